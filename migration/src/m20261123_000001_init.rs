//! The initial schema: the area tree, identity, uploads, reports with their timeline, wishes,
//! the transactional outbox, idempotency records, the consent ledger and job leases.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

/// Tables in creation order; dropped in reverse.
const TABLES: &[&str] = &[
    "areas",
    "settings",
    "users",
    "grid_members",
    "invites",
    "refresh_tokens",
    "uploads",
    "categories",
    "reports",
    "wishes",
    "timeline_events",
    "outbox",
    "idempotency",
    "subscriptions",
    "dead_letters",
    "job_leases",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(t("areas"))
                .col(string_len(t("code"), 64).primary_key())
                .col(string_len(t("name"), 200))
                .col(string_len(t("level"), 16))
                .col(string_len_null(t("parent_code"), 64))
                // "/D/S/C/G/": every ancestor's code, so a subtree is one prefix match.
                .col(string_len(t("path"), 512))
                .col(text_null(t("geometry")))
                .col(big_integer(t("created_at")))
                .col(big_integer(t("updated_at")))
                .to_owned(),
        )
        .await?;
        index(m, "areas", "idx_areas_parent", &["parent_code"], false).await?;
        index(m, "areas", "idx_areas_path", &["path"], false).await?;

        m.create_table(
            Table::create()
                .table(t("settings"))
                .col(string_len(t("key"), 64).primary_key())
                .col(text(t("value")))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(t("users"))
                .col(string_len(t("id"), 36).primary_key())
                .col(string_len_null(t("appid"), 64))
                .col(string_len_null(t("openid"), 128))
                .col(string_len_null(t("unionid"), 128))
                .col(string_len_null(t("session_key"), 64))
                .col(string_len_null(t("username"), 64))
                .col(string_len_null(t("password_hash"), 256))
                .col(string_len(t("nickname"), 64))
                .col(string_len_null(t("phone"), 32))
                .col(string_len_null(t("admin_area_code"), 64))
                .col(boolean(t("is_volunteer")).default(false))
                .col(string_len_null(t("volunteer_unit"), 200))
                .col(big_integer(t("created_at")))
                .to_owned(),
        )
        .await?;
        index(m, "users", "ux_users_wechat", &["appid", "openid"], true).await?;
        index(m, "users", "ux_users_username", &["username"], true).await?;

        m.create_table(
            Table::create()
                .table(t("grid_members"))
                .col(pk_auto(t("id")))
                .col(string_len(t("user_id"), 36))
                .col(string_len(t("grid_code"), 64))
                .col(string_len(t("role"), 16))
                .col(big_integer(t("created_at")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "grid_members",
            "ux_grid_members",
            &["user_id", "grid_code"],
            true,
        )
        .await?;
        index(
            m,
            "grid_members",
            "idx_grid_members_grid",
            &["grid_code"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(t("invites"))
                .col(string_len(t("code"), 32).primary_key())
                .col(string_len(t("grid_code"), 64))
                .col(string_len(t("role"), 16))
                .col(string_len(t("created_by"), 36))
                .col(big_integer(t("expires_at")))
                .col(string_len_null(t("used_by"), 36))
                .col(big_integer_null(t("used_at")))
                .col(big_integer(t("created_at")))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(t("refresh_tokens"))
                .col(string_len(t("id"), 36).primary_key())
                .col(string_len(t("user_id"), 36))
                .col(string_len(t("family_id"), 36))
                .col(string_len(t("token_hash"), 64))
                .col(big_integer(t("expires_at")))
                .col(big_integer_null(t("rotated_at")))
                .col(boolean(t("revoked")).default(false))
                .col(big_integer(t("created_at")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "refresh_tokens",
            "ux_refresh_hash",
            &["token_hash"],
            true,
        )
        .await?;
        index(
            m,
            "refresh_tokens",
            "idx_refresh_family",
            &["family_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(t("uploads"))
                .col(string_len(t("id"), 36).primary_key())
                .col(string_len(t("owner_id"), 36))
                .col(string_len(t("content_type"), 64))
                .col(big_integer(t("size")))
                .col(string_len(t("stored_name"), 128))
                .col(string_len_null(t("attached_kind"), 16))
                .col(string_len_null(t("attached_id"), 36))
                .col(big_integer(t("created_at")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "uploads",
            "idx_uploads_attached",
            &["attached_kind", "attached_id"],
            false,
        )
        .await?;
        index(m, "uploads", "idx_uploads_created", &["created_at"], false).await?;

        m.create_table(
            Table::create()
                .table(t("categories"))
                .col(string_len(t("code"), 64).primary_key())
                .col(string_len_null(t("parent_code"), 64))
                .col(string_len(t("name"), 100))
                .col(string_len(t("name_en"), 100))
                .col(string_len(t("limit_unit"), 16))
                .col(integer(t("limit_amount")))
                .col(integer(t("sort_order")))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(t("reports"))
                .col(string_len(t("id"), 36).primary_key())
                .col(string_len(t("reporter_id"), 36))
                .col(string_len(t("category"), 64))
                .col(text(t("description")))
                .col(double(t("lat")))
                .col(double(t("lng")))
                .col(string_len(t("coord_input"), 8))
                .col(string_len_null(t("address"), 300))
                .col(boolean(t("anonymous")).default(false))
                .col(string_len(t("urgency"), 16))
                .col(string_len(t("status"), 16))
                // The grid the location fell in (for the dashboard) and the queue that holds it now.
                .col(string_len(t("grid_code"), 64))
                .col(string_len(t("queue_code"), 64))
                .col(string_len(t("queue_path"), 512))
                .col(string_len_null(t("accepted_by"), 36))
                .col(big_integer(t("submitted_at")))
                .col(big_integer_null(t("accepted_at")))
                .col(big_integer_null(t("deadline")))
                .col(big_integer_null(t("suspended_at")))
                .col(big_integer_null(t("resolved_at")))
                .col(big_integer_null(t("closed_at")))
                .col(integer(t("rework_count")).default(0))
                .col(small_integer_null(t("rating")))
                .col(string_len_null(t("rating_comment"), 500))
                .col(big_integer_null(t("extension_until")))
                .col(string_len_null(t("extension_reason"), 500))
                .col(string_len_null(t("duplicate_of"), 36))
                .col(boolean(t("flagged")).default(false))
                .col(boolean(t("overdue_notified")).default(false))
                .col(integer(t("version")).default(0))
                .col(big_integer(t("updated_at")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "reports",
            "idx_reports_reporter",
            &["reporter_id", "submitted_at"],
            false,
        )
        .await?;
        index(
            m,
            "reports",
            "idx_reports_queue",
            &["queue_code", "status"],
            false,
        )
        .await?;
        index(m, "reports", "idx_reports_path", &["queue_path"], false).await?;
        index(
            m,
            "reports",
            "idx_reports_grid_time",
            &["grid_code", "submitted_at"],
            false,
        )
        .await?;
        index(
            m,
            "reports",
            "idx_reports_status",
            &["status", "resolved_at"],
            false,
        )
        .await?;
        index(
            m,
            "reports",
            "idx_reports_dupe",
            &["category", "submitted_at"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(t("wishes"))
                .col(string_len(t("id"), 36).primary_key())
                .col(string_len(t("wisher_id"), 36))
                .col(string_len(t("title"), 200))
                .col(text(t("description")))
                .col(string_len(t("kind"), 16))
                .col(big_integer_null(t("estimated_value_fen")))
                .col(double(t("lat")))
                .col(double(t("lng")))
                .col(string_len(t("grid_code"), 64))
                .col(string_len(t("queue_path"), 512))
                .col(string_len(t("status"), 16))
                .col(big_integer(t("deadline")))
                .col(string_len_null(t("claimant_id"), 36))
                .col(string_len_null(t("claimant_unit"), 200))
                .col(string_len_null(t("reason"), 500))
                .col(boolean(t("flagged")).default(false))
                .col(boolean(t("expired_to_queue")).default(false))
                .col(big_integer(t("submitted_at")))
                .col(big_integer_null(t("approved_at")))
                .col(big_integer_null(t("claimed_at")))
                .col(big_integer_null(t("fulfilled_at")))
                .col(big_integer_null(t("closed_at")))
                .col(integer(t("version")).default(0))
                .col(big_integer(t("updated_at")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "wishes",
            "idx_wishes_wall",
            &["status", "submitted_at"],
            false,
        )
        .await?;
        index(m, "wishes", "idx_wishes_wisher", &["wisher_id"], false).await?;
        index(m, "wishes", "idx_wishes_path", &["queue_path"], false).await?;

        m.create_table(
            Table::create()
                .table(t("timeline_events"))
                .col(pk_auto(t("id")))
                .col(string_len(t("subject_kind"), 16))
                .col(string_len(t("subject_id"), 36))
                .col(string_len_null(t("actor_id"), 36))
                .col(string_len(t("actor_role"), 16))
                .col(string_len(t("action"), 32))
                .col(string_len(t("from_status"), 16))
                .col(string_len(t("to_status"), 16))
                .col(text_null(t("note")))
                .col(text_null(t("data")))
                .col(big_integer(t("at")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "timeline_events",
            "idx_timeline_subject",
            &["subject_kind", "subject_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(t("outbox"))
                .col(pk_auto(t("id")))
                .col(string_len(t("topic"), 64))
                .col(string_len(t("kind"), 48))
                .col(text(t("payload")))
                .col(big_integer(t("created_at")))
                .col(big_integer_null(t("published_at")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "outbox",
            "idx_outbox_pending",
            &["published_at", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(t("idempotency"))
                .col(string_len(t("user_id"), 36))
                .col(string_len(t("idem_key"), 128))
                .col(string_len(t("request_hash"), 64))
                .col(integer_null(t("status_code")))
                .col(text_null(t("response_body")))
                .col(big_integer(t("created_at")))
                .primary_key(Index::create().col(t("user_id")).col(t("idem_key")))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(t("subscriptions"))
                .col(string_len(t("user_id"), 36))
                .col(string_len(t("template_id"), 128))
                .col(integer(t("remaining")))
                .col(big_integer(t("updated_at")))
                .primary_key(Index::create().col(t("user_id")).col(t("template_id")))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(t("dead_letters"))
                .col(pk_auto(t("id")))
                .col(string_len(t("kind"), 48))
                .col(text(t("payload")))
                .col(text(t("error")))
                .col(integer(t("attempts")))
                .col(big_integer(t("created_at")))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(t("job_leases"))
                .col(string_len(t("name"), 64).primary_key())
                .col(string_len(t("holder"), 64))
                .col(big_integer(t("expires_at")))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in TABLES.iter().rev() {
            m.drop_table(Table::drop().table(t(name)).to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn index(
    m: &SchemaManager<'_>,
    table: &str,
    name: &str,
    cols: &[&str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(t(table));
    for col in cols {
        stmt.col(t(col));
    }
    if unique {
        stmt.unique();
    }
    m.create_index(stmt.to_owned()).await
}
