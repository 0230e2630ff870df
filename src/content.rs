//! Checks on residents' texts shared by reports and wishes: required, trimmed, bounded
//! fields, and WeChat's content security check when it is enabled.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;

/// A required text field, trimmed, at most `max` characters (not bytes).
pub fn text_field(field: &str, value: Option<&str>, max: usize) -> ApiResult<String> {
    let v = value.map(str::trim).unwrap_or("");
    if v.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    if v.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}

/// An optional text field: blank is `None`, otherwise at most `max` characters.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if v.chars().count() > max => Err(ApiError::invalid(
            field,
            format!("at most {max} characters"),
        )),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// Checks a resident's text with WeChat when enabled: `Ok(true)` means flag for review.
pub async fn check_content(state: &AppState, who: &Principal, text: &str) -> ApiResult<bool> {
    if !state.settings.content_check {
        return Ok(false);
    }
    let Some(openid) = who.user.openid.clone() else {
        return Ok(false);
    };
    let wechat = state.wechat.clone();
    let content: String = text.chars().take(2_500).collect();
    let verdict = state
        .wechat_tokens
        .with_token(|token| {
            let (wechat, openid, content) = (wechat.clone(), openid.clone(), content.clone());
            async move { wechat.msg_sec_check(&token, &openid, 1, &content).await }
        })
        .await;
    match verdict {
        Ok(crate::infra::wechat::ContentVerdict::Pass) => Ok(false),
        Ok(crate::infra::wechat::ContentVerdict::Review) => Ok(true),
        Ok(crate::infra::wechat::ContentVerdict::Risky) => Err(ApiError::new(
            Code::ContentRejected,
            "The text contains content that cannot be published; please rephrase it.",
            "内容含有违规信息，请修改后再提交。",
        )),
        // WeChat down must not lose the submission: accept it and let an admin look.
        Err(e) => {
            tracing::warn!(error = %e, "content check unavailable; accepting flagged");
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_are_trimmed_required_and_bounded_in_characters() {
        assert_eq!(text_field("t", Some("  水  "), 1).unwrap(), "水");
        assert!(text_field("t", Some("   "), 5).is_err());
        assert!(text_field("t", None, 5).is_err());
        assert!(text_field("t", Some("水水"), 1).is_err());
        assert_eq!(optional_text("t", Some(" "), 3).unwrap(), None);
        assert!(optional_text("t", Some("abcd"), 3).is_err());
    }
}
