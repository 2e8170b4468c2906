//! The layout of the HCL files imagekit writes from Rust data (`variables.pkr.hcl`,
//! `plugins.pkr.hcl`). hcl-rs builds the structure and escapes every value; this pass adds what
//! hcl-rs does not and `packer fmt -check` wants: the `=` of consecutive one-line attributes (and
//! object items) aligned one column after the longest key. It also places the files' comments.
//! Only whitespace and comments change, through hcl-edit's decor; no value is touched.

use hcl::edit::expr::{Expression, ObjectKey};
use hcl::edit::structure::Body;
use hcl::edit::Decorate;
use hcl::format::{Format, Formatter};

/// `body` laid out as `packer fmt` prints it: first `header` as `#` lines and a blank line, then
/// the items, with each `(index, lines)` of `comments` as `#` lines above that top-level item.
pub fn format(body: &hcl::Body, header: &[&str], comments: &[(usize, &[&str])]) -> String {
    let mut formatter = Formatter::builder().prefer_ident_keys(true).build_vec();
    let text = body
        .format_string(&mut formatter)
        .expect("formatting into memory cannot fail");
    let mut edit: Body = text.parse().expect("what hcl-rs formats, hcl-edit parses");
    align_body(&mut edit);
    for (index, lines) in comments {
        let decor = edit
            .get_mut(*index)
            .expect("a comment is placed above an existing item")
            .decor_mut();
        let prefix = decor.prefix().map(|p| p.to_string()).unwrap_or_default();
        decor.set_prefix(prefix + &comment(lines));
    }
    format!("{}\n{edit}", comment(header))
}

fn comment(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|line| format!("{}\n", format!("# {line}").trim_end()))
        .collect()
}

fn one_line(expr: &Expression) -> bool {
    !expr.to_string().contains('\n')
}

/// `cells` holds each item's key length, or None for what ends a run (a block, a multi-line
/// value). Returns, for each item, the key width of its run.
fn run_widths(cells: &[Option<usize>]) -> Vec<Option<usize>> {
    let mut widths = vec![None; cells.len()];
    let mut start = 0;
    while start < cells.len() {
        let end = (start..cells.len())
            .find(|&i| cells[i].is_none())
            .unwrap_or(cells.len());
        let width = cells[start..end].iter().flatten().max().copied();
        widths[start..end].fill(width);
        start = end + 1;
    }
    widths
}

fn align_body(body: &mut Body) {
    let mut cells = Vec::with_capacity(body.len());
    for mut structure in body.iter_mut() {
        let cell = match structure.as_attribute_mut() {
            Some(attr) if one_line(&attr.get().value) => Some(attr.get().key.as_str().len()),
            Some(mut attr) => {
                align_expr(attr.value_mut());
                None
            }
            None => {
                if let Some(block) = structure.as_block_mut() {
                    align_body(&mut block.body);
                }
                None
            }
        };
        cells.push(cell);
    }
    let widths = run_widths(&cells);
    for ((mut structure, width), len) in body.iter_mut().zip(widths).zip(cells) {
        if let (Some(width), Some(len), Some(mut attr)) = (width, len, structure.as_attribute_mut())
        {
            attr.key_decor_mut().set_suffix(" ".repeat(width - len + 1));
        }
    }
}

/// Objects (`amazon = { version = ..., source = ... }`) align like bodies.
fn align_expr(expr: &mut Expression) {
    let Expression::Object(object) = expr else {
        return;
    };
    let mut cells = Vec::with_capacity(object.len());
    for (key, value) in object.iter_mut() {
        let cell = if one_line(value.expr()) {
            Some(key_len(&key))
        } else {
            align_expr(value.expr_mut());
            None
        };
        cells.push(cell);
    }
    let widths = run_widths(&cells);
    for (((mut key, _), width), len) in object.iter_mut().zip(widths).zip(cells) {
        if let (Some(width), Some(len)) = (width, len) {
            key.decor_mut().set_suffix(" ".repeat(width - len + 1));
        }
    }
}

fn key_len(key: &ObjectKey) -> usize {
    match key {
        ObjectKey::Ident(ident) => ident.as_str().len(),
        ObjectKey::Expression(expr) => {
            let mut bare = expr.clone();
            bare.decor_mut().clear();
            bare.to_string().len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_end_at_blocks_and_multi_line_values() {
        assert_eq!(
            run_widths(&[Some(4), Some(7), None, Some(2), None]),
            vec![Some(7), Some(7), None, Some(2), None]
        );
        assert_eq!(run_widths(&[]), Vec::<Option<usize>>::new());
    }

    #[test]
    fn aligns_attributes_and_object_items_and_writes_comments() {
        let requirement: hcl::Object<hcl::ObjectKey, hcl::Expression> = [
            (
                hcl::ObjectKey::Identifier(hcl::Identifier::unchecked("version")),
                hcl::Expression::from("1.0.0"),
            ),
            (
                hcl::ObjectKey::Identifier(hcl::Identifier::unchecked("source")),
                hcl::Expression::from("x/y"),
            ),
        ]
        .into_iter()
        .collect();
        let body = hcl::Body::builder()
            .add_block(
                hcl::Block::builder("variable")
                    .add_label("a")
                    .add_attribute(("type", hcl::Variable::unchecked("string")))
                    .add_attribute(("default", "${x} \"q\""))
                    .build(),
            )
            .add_attribute(("amazon", requirement))
            .build();
        let text = format(&body, &["Generated.", "", "Second."], &[(1, &["Pin."])]);
        let expected = r#"# Generated.
#
# Second.

variable "a" {
  type    = string
  default = "$${x} \"q\""
}

# Pin.
amazon = {
  version = "1.0.0"
  source  = "x/y"
}
"#;
        assert_eq!(text, expected);
        assert_eq!(hcl::parse(&text).unwrap(), body);
    }
}
