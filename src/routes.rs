//! Every route of the server in one place. The server and the OpenAPI builder both call
//! [`configure`], so the document describes exactly what is mounted.

use utoipa_actix_web::{scope, service_config::ServiceConfig};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.configure(crate::health::routes);
    cfg.service(
        scope::scope("/api/v1")
            .configure(crate::auth::routes)
            .configure(crate::grids::routes)
            .configure(crate::grids::outlines::routes)
            .configure(crate::reports::routes)
            .configure(crate::wishes::routes)
            .configure(crate::uploads::routes)
            .configure(crate::notify::routes)
            .configure(crate::dashboard::routes)
            .configure(crate::units::routes)
            .configure(crate::people::routes)
            .configure(crate::patrols::routes)
            .configure(crate::integrations::routes)
            .configure(crate::open311::admin::routes)
            .configure(crate::compliance::routes),
    );
}
