//! `imagekit completions`: the bash script, loaded by the real /bin/bash, completes as a user's
//! shell would; `imagekit man` writes a page per visible command.

use std::path::Path;

use crate::support::cmd::Cmd;

/// What bash's programmable completion offers for `words`, the last one being completed: the
/// script is sourced and its function called as `complete -F` would call it (command, current
/// word, previous word; COMP_WORDS, COMP_CWORD, COMP_LINE, COMP_POINT set).
fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    let program = r#"
        source "$1"; shift
        COMP_WORDS=("$@")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        COMP_LINE="${COMP_WORDS[*]}"
        COMP_POINT=${#COMP_LINE}
        prev=""
        (( COMP_CWORD > 0 )) && prev="${COMP_WORDS[COMP_CWORD-1]}"
        _imagekit imagekit "${COMP_WORDS[COMP_CWORD]}" "$prev"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = Cmd::new("/bin/bash")
        .arg("-c")
        .arg(program)
        .arg("bash")
        .arg(script)
        .args(words)
        .run();
    out.success();
    out.stdout()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_st_to_stack_and_nothing_else() {
    let out = Cmd::imagekit().args(["completions", "bash"]).run();
    out.success();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("imagekit.bash");
    std::fs::write(&script, out.stdout()).unwrap();
    // `stack` is the one subcommand starting with "st" (none of the flags do).
    assert_eq!(bash_completes(&script, &["imagekit", "st"]), ["stack"]);
    // Nested: `images` has list and prune.
    assert_eq!(
        bash_completes(&script, &["imagekit", "images", "l"]),
        ["list"]
    );
}

#[test]
fn every_shell_gets_a_script_naming_imagekit() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = Cmd::imagekit().args(["completions", shell]).run();
        out.success();
        assert!(
            out.stdout().contains("imagekit") && out.stdout().contains("doctor"),
            "{shell}: the script names neither imagekit nor its subcommands"
        );
    }
}

#[test]
fn an_unknown_shell_is_one_line_exit_2() {
    let out = Cmd::imagekit().args(["completions", "tcsh"]).run();
    out.code(2).stdout_is("");
    assert_eq!(
        out.one_line_error(),
        "error: invalid value 'tcsh' for '<SHELL>' [possible values: bash, zsh, fish, powershell] tip: a similar value exists: 'zsh'"
    );
}

#[test]
fn completions_help() {
    let out = Cmd::imagekit()
        .args(["completions", "--help"])
        .env("COLUMNS", "100")
        .run();
    out.success();
    insta::assert_snapshot!("completions_help", out.stdout());
}

/// The hidden `man` writes one page per visible command, and stays out of --help.
#[test]
fn man_writes_a_page_per_command_and_is_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let out = Cmd::imagekit()
        .arg("man")
        .arg("--out")
        .arg(dir.path())
        .run();
    out.success();
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert!(pages.contains(&"imagekit.1".to_string()), "{pages:?}");
    assert!(
        pages.contains(&"imagekit-doctor.1".to_string()),
        "{pages:?}"
    );
    assert!(
        pages.contains(&"imagekit-images-list.1".to_string()),
        "{pages:?}"
    );
    assert!(
        !pages.iter().any(|p| p.contains("man")),
        "the hidden command has no page"
    );
    let page = std::fs::read_to_string(dir.path().join("imagekit-doctor.1")).unwrap();
    assert!(
        page.contains("\n.TH imagekit-doctor 1 ") && page.contains("\n.SH OPTIONS\n"),
        "not a roff page for doctor:\n{page}"
    );
    let help = Cmd::imagekit().arg("--help").run();
    help.success();
    assert!(
        !help.stdout().contains("\n  man "),
        "man is hidden from --help"
    );
    assert!(help.stdout().contains("\n  completions "));
}
