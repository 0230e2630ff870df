//! Identity: WeChat and password login, our own tokens, roles scoped to the area tree,
//! enrolment into grids, phone binding and subscribe consent.

pub mod dto;
mod handlers;
pub mod jwt;
pub mod principal;
pub mod service;

pub use principal::Principal;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::wechat_login)
        .service(handlers::password_login)
        .service(handlers::refresh)
        .service(handlers::logout)
        .service(handlers::get_me)
        .service(handlers::bind_phone)
        .service(handlers::enrol)
        .service(handlers::subscriptions)
        .service(handlers::create_invite);
}
