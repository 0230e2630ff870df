//! A response as a small tree, written as JSON or as the XML the specification requires.

use std::fmt::Write;

/// A value of a response.
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// Named fields, in order.
    Obj(Vec<(&'static str, Doc)>),
    /// A list whose XML items are each called `item`.
    List(&'static str, Vec<Doc>),
}

impl Doc {
    pub fn text(s: impl Into<String>) -> Doc {
        Doc::Text(s.into())
    }

    pub fn opt(s: Option<String>) -> Doc {
        s.map_or(Doc::Null, Doc::Text)
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Doc::Null => Value::Null,
            Doc::Bool(b) => Value::Bool(*b),
            Doc::Int(n) => Value::from(*n),
            Doc::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Doc::Text(s) => Value::String(s.clone()),
            Doc::Obj(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.to_json()))
                    .collect(),
            ),
            Doc::List(_, items) => Value::Array(items.iter().map(Doc::to_json).collect()),
        }
    }

    /// The document as XML with `root` as its outer element.
    pub fn to_xml(&self, root: &str) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
        element(&mut out, root, self);
        out
    }
}

fn element(out: &mut String, name: &str, value: &Doc) {
    match value {
        Doc::Null => {
            let _ = write!(out, "<{name}/>");
        }
        _ => {
            let _ = write!(out, "<{name}>");
            content(out, value);
            let _ = write!(out, "</{name}>");
        }
    }
}

fn content(out: &mut String, value: &Doc) {
    match value {
        Doc::Null => {}
        Doc::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Doc::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Doc::Float(x) => {
            let _ = write!(out, "{x}");
        }
        Doc::Text(s) => escape(out, s),
        Doc::Obj(fields) => {
            for (k, v) in fields {
                element(out, k, v);
            }
        }
        Doc::List(item, items) => {
            for v in items {
                element(out, item, v);
            }
        }
    }
}

fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_come_from_one_tree() {
        let doc = Doc::List(
            "request",
            vec![Doc::Obj(vec![
                ("service_request_id", Doc::text("R1")),
                ("status_notes", Doc::Null),
                ("description", Doc::text("a <b> & \"c\" 楼道")),
                ("lat", Doc::Float(31.2)),
            ])],
        );
        assert_eq!(
            doc.to_json(),
            serde_json::json!([{ "service_request_id": "R1", "status_notes": null, "description": "a <b> & \"c\" 楼道", "lat": 31.2 }])
        );
        assert_eq!(
            doc.to_xml("service_requests"),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><service_requests><request><service_request_id>R1</service_request_id><status_notes/><description>a &lt;b&gt; &amp; &quot;c&quot; 楼道</description><lat>31.2</lat></request></service_requests>"
        );
    }
}
