//! Identity: WeChat and password login (with lockout, password policy and a TOTP second
//! factor for admins), our own tokens, roles scoped to the area tree,
//! enrolment into grids, phone binding and subscribe consent; the security admin's account
//! work (unlock, password reset, duty grants).

pub mod accounts;
mod admin_login;
mod dev_login;
pub mod dto;
mod handlers;
pub mod jwt;
pub mod password_policy;
pub mod principal;
pub mod service;
pub mod totp;

pub use principal::{Authenticated, Principal};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::wechat_login)
        .service(handlers::password_login)
        .service(handlers::change_password)
        .service(handlers::enrol_mfa)
        .service(handlers::confirm_mfa)
        .service(handlers::refresh)
        .service(handlers::logout)
        .service(handlers::get_me)
        .service(handlers::bind_phone)
        .service(handlers::enrol)
        .service(handlers::subscriptions)
        .service(handlers::create_invite)
        .service(accounts::unlock)
        .service(accounts::reset_password)
        .service(accounts::grant_duty)
        .configure(dev_login::routes);
}
