//! The root README's axum example is this crate's README example (compiled there as a doctest),
//! word for word: the one the root crate cannot compile (it does not depend on this crate).

fn rust_block_after(text: &str, marker: &str) -> String {
    let from = text.find(marker).unwrap_or_else(|| panic!("{marker:?} not found"));
    let rest = &text[from..];
    let start = rest.find("```r").expect("a rust block");
    let body = &rest[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("\n```").expect("the block's end")].to_owned()
}

#[test]
fn the_root_readme_shows_the_example_compiled_here() {
    let root = include_str!("../../README.md");
    let ours = include_str!("../README.md");
    assert_eq!(
        rust_block_after(root, "## Inside an axum application"),
        rust_block_after(ours, "# ssehub-axum"),
        "README.md and ssehub-axum/README.md must show the same example"
    );
}

#[test]
fn the_root_readme_shows_the_handoff_example_compiled_here() {
    let root = include_str!("../../README.md");
    let ours = include_str!("../README.md");
    assert_eq!(
        rust_block_after(root, "### Streams handed off"),
        rust_block_after(ours, "## Streams handed off"),
        "README.md and ssehub-axum/README.md must show the same hand-off example"
    );
}
