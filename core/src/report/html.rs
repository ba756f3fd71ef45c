//! The report as one self-contained HTML page: the Markdown `render` writes (headings, tables,
//! paragraphs, figures) translated line by line, every figure embedded as a data URI.

use base64::Engine;

use super::Figure;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The Markdown subset `render` writes (headings, tables, paragraphs, figures) as HTML, with
/// every figure embedded as a data URI.
pub(super) fn to_html(title: &str, md: &str, figures: &[Figure]) -> String {
    let mut body = String::new();
    let mut in_table = false;
    for line in md.lines() {
        let is_row = line.starts_with('|');
        if in_table && !is_row {
            body.push_str("</table>\n");
            in_table = false;
        }
        if let Some(h) = line.strip_prefix("## ") {
            body.push_str(&format!("<h2>{}</h2>\n", escape(h)));
        } else if let Some(h) = line.strip_prefix("# ") {
            body.push_str(&format!("<h1>{}</h1>\n", escape(h)));
        } else if let Some(rest) = line.strip_prefix("![") {
            let (caption, file) = rest.split_once("](plots/").unwrap_or((rest, ""));
            let file = file.trim_end_matches(')');
            if let Some(f) = figures.iter().find(|f| f.file == file) {
                let data = base64::engine::general_purpose::STANDARD.encode(f.svg.as_bytes());
                body.push_str(&format!(
                    "<figure><img src=\"data:image/svg+xml;base64,{data}\" alt=\"{}\"><figcaption>{}</figcaption></figure>\n",
                    escape(caption),
                    escape(caption)
                ));
            }
        } else if is_row {
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
            if cells.iter().all(|c| c.chars().all(|ch| ch == '-')) {
                continue;
            }
            let tag = if in_table { "td" } else { "th" };
            if !in_table {
                body.push_str("<table>\n");
                in_table = true;
            }
            body.push_str("<tr>");
            for c in cells {
                body.push_str(&format!("<{tag}>{}</{tag}>", escape(c)));
            }
            body.push_str("</tr>\n");
        } else if !line.trim().is_empty() {
            body.push_str(&format!("<p>{}</p>\n", escape(line)));
        }
    }
    if in_table {
        body.push_str("</table>\n");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}\
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
th{{background:#f4f4f4}}td:first-child,th:first-child{{text-align:left}}figure{{display:inline-block;margin:0.5em}}\
img{{max-width:100%}}figcaption{{font-size:0.9em;color:#555}}</style></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    )
}
