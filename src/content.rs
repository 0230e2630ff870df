//! Checks on residents' texts shared by reports and wishes: required, trimmed, bounded
//! fields, and WeChat's content security check when it is enabled.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Code};
use crate::infra::wechat::{ContentVerdict, WeChatClient};
use crate::infra::wechat_token::AccessTokenCache;

/// The longest description or note of a case (API.md: 2,000 characters).
pub const MAX_DESCRIPTION: usize = 2_000;

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

/// WeChat's content security check, when enabled, borrowed for one call.
#[derive(Clone, Copy)]
pub struct ContentCheck<'a> {
    pub enabled: bool,
    pub wechat: &'a WeChatClient,
    pub tokens: &'a AccessTokenCache,
}

impl ContentCheck<'_> {
    /// Checks a resident's text: `Ok(true)` means flag for review, 422 `content_rejected`
    /// means it cannot be published. WeChat down never loses the submission: it is accepted,
    /// flagged.
    pub async fn check(&self, who: &Principal, text: &str) -> ApiResult<bool> {
        if !self.enabled {
            return Ok(false);
        }
        let Some(openid) = who.user.openid.clone() else {
            return Ok(false);
        };
        let wechat = self.wechat.clone();
        let content: String = text.chars().take(2_500).collect();
        let verdict = self
            .tokens
            .with_token(|token| {
                let (wechat, openid, content) = (wechat.clone(), openid.clone(), content.clone());
                async move { wechat.msg_sec_check(&token, &openid, 1, &content).await }
            })
            .await;
        match verdict {
            Ok(ContentVerdict::Pass) => Ok(false),
            Ok(ContentVerdict::Review) => Ok(true),
            Ok(ContentVerdict::Risky) => Err(ApiError::new(
                Code::ContentRejected,
                "The text contains content that cannot be published; please rephrase it.",
                "内容含有违规信息，请修改后再提交。",
            )),
            Err(e) => {
                tracing::warn!(error = %e, "content check unavailable; accepting flagged");
                Ok(true)
            }
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
