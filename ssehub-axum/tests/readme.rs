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

/// The root README's block after `root_marker` is this README's after `ours_marker`.
fn same_block(root_marker: &str, ours_marker: &str) {
    let root = include_str!("../../README.md");
    let ours = include_str!("../README.md");
    assert_eq!(
        rust_block_after(root, root_marker),
        rust_block_after(ours, ours_marker),
        "README.md and ssehub-axum/README.md must show the same example ({root_marker:?})"
    );
}

#[test]
fn the_root_readme_shows_the_example_compiled_here() {
    same_block("## Inside an axum application", "# ssehub-axum");
}

#[test]
fn the_root_readme_shows_the_handoff_example_compiled_here() {
    same_block("### Streams handed off", "## Streams handed off");
}
