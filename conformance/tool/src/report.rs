//! The report in three forms: a table for people, JSON and JUnit XML for CI.

use crate::{Report, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Junit,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "table" => Format::Table,
            "json" => Format::Json,
            "junit" => Format::Junit,
            _ => return None,
        })
    }
}

pub fn render(reports: &[Report], format: Format) -> String {
    match format {
        Format::Table => reports.iter().map(table).collect::<Vec<_>>().join("\n"),
        Format::Json => serde_json::to_string_pretty(reports).unwrap_or_default(),
        Format::Junit => junit(reports),
    }
}

fn table(r: &Report) -> String {
    let mut out = format!("{} ({})\n", r.plugin, r.plugin_type);
    let w = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(5);
    let ws = r.checks.iter().map(|c| c.spec.len()).max().unwrap_or(4);
    out += &format!("{:<w$}  {:<ws$}  {:<4}  reason\n", "check", "spec", "");
    for c in &r.checks {
        let v = word(c.verdict);
        let reason: String = c.reason.chars().take(300).collect::<String>().replace('\n', " ");
        out += &format!("{:<w$}  {:<ws$}  {v:<4}  {reason}\n", c.id, c.spec);
    }
    out += &format!(
        "{} passed, {} failed, {} skipped\n",
        r.count(Verdict::Pass),
        r.count(Verdict::Fail),
        r.count(Verdict::Skip)
    );
    out
}

fn junit(reports: &[Report]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for r in reports {
        out += &format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n",
            xml(&format!("{} ({})", r.plugin_type, r.plugin)),
            r.checks.len(),
            r.count(Verdict::Fail),
            r.count(Verdict::Skip)
        );
        for c in &r.checks {
            let name = xml(&format!("{} [{}]", c.id, c.spec));
            match c.verdict {
                Verdict::Pass => out += &format!("    <testcase name=\"{name}\"/>\n"),
                Verdict::Fail => {
                    out +=
                        &format!("    <testcase name=\"{name}\"><failure message=\"{}\"/></testcase>\n", xml(&c.reason))
                }
                Verdict::Skip => {
                    out +=
                        &format!("    <testcase name=\"{name}\"><skipped message=\"{}\"/></testcase>\n", xml(&c.reason))
                }
            }
        }
        out += "  </testsuite>\n";
    }
    out + "</testsuites>\n"
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Two runs side by side, one markdown table per type: what each side
/// passed (`pass`), failed (`FAIL`) or could not apply (`skip`).
pub fn render_versus(ours: &[Report], theirs: &[Report]) -> String {
    let mut out = String::new();
    for (a, b) in ours.iter().zip(theirs) {
        out += &format!("**{}** — `{}` vs `{}`\n\n", a.plugin_type, a.plugin, b.plugin);
        out += "| check | spec | A | B |\n|---|---|---|---|\n";
        for c in &a.checks {
            let other = b.checks.iter().find(|o| o.id == c.id).map(|o| word(o.verdict)).unwrap_or("–");
            out += &format!("| `{}` | {} | {} | {} |\n", c.id, c.spec, word(c.verdict), other);
        }
        out += &format!(
            "| **total** | | {} pass, {} fail | {} pass, {} fail |\n\n",
            a.count(Verdict::Pass),
            a.count(Verdict::Fail),
            b.count(Verdict::Pass),
            b.count(Verdict::Fail)
        );
    }
    out
}

fn word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "FAIL",
        Verdict::Skip => "skip",
    }
}
