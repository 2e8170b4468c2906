//! `imagekit userdata`: each OS's user-data, checked by the real tools (cloud-init, shellcheck,
//! bash) and decoded the way its boot agent would decode it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::support::cmd::{Cmd, Run};
use crate::support::{repo_root, tool};

/// A valid boot config that carries everything that could break out of script text: quotes of
/// both kinds, `$`, `$(...)`, backticks, backslashes, newlines, CR, non-ASCII, and odd spacing
/// (it must arrive byte for byte, not re-serialized).
const TRICKY_CONFIG: &str = "{\n  \"endpoint\": \"acme.semaphoreci.com\",\n  \"token_parameter\": \"/ci/token\",\n  \"env\": {\n    \"QUOTES\": \"it's \\\"quoted\\\" '' \\\"\\\"\",\n    \"DOLLAR\": \"$HOME ${PATH} $(id) `id` \\\\ %PATH% $env:USERPROFILE\",\n    \"LINES\": \"one\\ntwo\\r\\nthree\\t EOF\",\n    \"UNICODE\": \"Grüße, 日本語, emoji 🚀, ‘curly’ “quotes”\"\n  }   ,\n  \"boot_timeout\": 90\n}\n\n";

const SIMPLE_CONFIG: &str = r#"{"endpoint":"acme.semaphoreci.com","token_parameter":"/ci/token"}"#;

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn userdata(os: &str, flag: &str, config: &Path) -> Run {
    Cmd::imagekit()
        .args(["userdata", "--os", os, flag])
        .arg(config)
        .run()
}

/// Runs cloud-init's own `write_files` module (Debian's cloud-init, its own YAML loader and b64
/// decoding) on the user-data, with every path moved under `root`. Returns the root.
fn cloud_init_write_files(userdata: &Path, root: &Path) {
    const SCRIPT: &str = r##"
import os, sys
from cloudinit import util
from cloudinit.config import cc_write_files
userdata, root = sys.argv[1], sys.argv[2]
with open(userdata, "rb") as f:
    raw = f.read()
assert raw.startswith(b"#cloud-config\n"), "not cloud-config"
cfg = util.load_yaml(raw.decode("utf-8"))
files = cfg["write_files"]
for entry in files:
    entry["path"] = root + entry["path"]
cc_write_files.write_files("write_files", files, "root:root")
"##;
    let python = PathBuf::from("/usr/bin/python3");
    assert!(
        python.is_file(),
        "Debian's python3 (cloud-init's) is missing: run scripts/setup"
    );
    Cmd::new(python)
        .args(["-c", SCRIPT])
        .arg(userdata)
        .arg(root)
        .run()
        .success();
}

/// The base64 literal a script assigns to `var` in single quotes.
fn literal(script: &str, var: &str) -> String {
    let open = format!("{var} = '");
    let open_sh = format!("{var}='");
    let start = script
        .find(&open)
        .map(|i| i + open.len())
        .or_else(|| script.find(&open_sh).map(|i| i + open_sh.len()))
        .unwrap_or_else(|| panic!("no {var} literal in\n{script}"));
    let end = start + script[start..].find('\'').unwrap();
    script[start..end].to_string()
}

/// What EC2Launch v2 would write. No PowerShell can be installed here, so this applies the same
/// rules as the script's `[Convert]::FromBase64String` (standard alphabet, padding required)
/// followed by `WriteAllBytes` (bytes as decoded, no re-encoding), and checks the bytes are UTF-8
/// as the bootstrap reads them.
fn windows_written_config(script: &str) -> Vec<u8> {
    let b64 = literal(script, "$configBase64");
    let bytes = BASE64.decode(b64.as_bytes()).expect("valid base64 literal");
    std::str::from_utf8(&bytes).expect("UTF-8");
    bytes
}

/// Runs the macOS script for real under bash, with the config dir moved into `dir` and a
/// `launchctl` stand-in on PATH that records its arguments. Returns (config, launchctl args).
fn run_macos_script(script: &Path, dir: &Path) -> (Vec<u8>, String, u32) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = dir.join("launchctl.args");
    let stub = bin.join("launchctl");
    std::fs::write(
        &stub,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let etc = dir.join("etc-imagekit");
    Cmd::new("/bin/bash")
        .arg(script)
        .env("IMAGEKIT_CONFIG_DIR", &etc)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .run()
        .success();
    let written = etc.join("bootstrap.json");
    let mode = std::fs::metadata(&written).unwrap().permissions().mode() & 0o777;
    (
        std::fs::read(&written).unwrap(),
        std::fs::read_to_string(&record).unwrap(),
        mode,
    )
}

#[test]
fn cloud_init_schema_accepts_the_linux_user_data() {
    let dir = tempfile::tempdir().unwrap();
    for (name, config) in [("simple", SIMPLE_CONFIG), ("tricky", TRICKY_CONFIG)] {
        let config = write(dir.path(), &format!("{name}.json"), config.as_bytes());
        let run = userdata("linux", "--config", &config);
        run.success();
        let out = write(dir.path(), &format!("{name}.yaml"), &run.output.stdout);
        Cmd::new(tool("IMAGEKIT_CLOUD_INIT", "cloud-init"))
            .args(["schema", "--config-file"])
            .arg(&out)
            .run()
            .success()
            .stdout_contains("Valid cloud-config");
    }
}

#[test]
fn shellcheck_accepts_the_macos_script() {
    let dir = tempfile::tempdir().unwrap();
    for (name, config) in [("simple", SIMPLE_CONFIG), ("tricky", TRICKY_CONFIG)] {
        let config = write(dir.path(), &format!("{name}.json"), config.as_bytes());
        let run = userdata("macos", "--config", &config);
        run.success();
        let out = write(dir.path(), &format!("{name}.sh"), &run.output.stdout);
        Cmd::new(tool("IMAGEKIT_SHELLCHECK", "shellcheck"))
            .arg(&out)
            .run()
            .success();
    }
}

#[test]
fn linux_config_reaches_the_instance_byte_for_byte_through_cloud_init() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config.json", TRICKY_CONFIG.as_bytes());
    let run = userdata("linux", "--config", &config);
    run.success();
    let out = write(dir.path(), "user-data", &run.output.stdout);
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    cloud_init_write_files(&out, &root);
    let written = root.join("etc/imagekit/bootstrap.json");
    assert_eq!(std::fs::read(&written).unwrap(), TRICKY_CONFIG.as_bytes());
    let mode = std::fs::metadata(&written).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o600,
        "cloud-init wrote the config with mode {mode:o}"
    );
}

#[test]
fn windows_config_reaches_the_instance_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config.json", TRICKY_CONFIG.as_bytes());
    let run = userdata("windows", "--config", &config);
    run.success();
    let script = run.stdout();
    assert!(script.starts_with("<powershell>\n"), "{script}");
    assert!(script.contains("</powershell>"), "{script}");
    assert!(
        script.contains(r"$dir = 'C:\ProgramData\imagekit'"),
        "{script}"
    );
    assert!(
        script.contains("Start-Service -Name 'imagekit-bootstrap'"),
        "{script}"
    );
    assert_eq!(windows_written_config(&script), TRICKY_CONFIG.as_bytes());
}

#[test]
fn macos_config_reaches_the_instance_byte_for_byte_and_kicks_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config.json", TRICKY_CONFIG.as_bytes());
    let run = userdata("macos", "--config", &config);
    run.success();
    let script = write(dir.path(), "user-data.sh", &run.output.stdout);
    let (written, launchctl, mode) = run_macos_script(&script, dir.path());
    assert_eq!(written, TRICKY_CONFIG.as_bytes());
    assert_eq!(mode, 0o600);
    assert_eq!(
        launchctl.trim(),
        "kickstart -k system/com.imagekit.bootstrap"
    );
}

#[test]
fn user_data_never_starts_the_agent_itself_and_never_holds_the_config_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config.json", TRICKY_CONFIG.as_bytes());
    for os in ["linux", "windows", "macos"] {
        let script = userdata(os, "--config", &config).success().stdout();
        assert!(!script.contains("bootstrap run"), "{os}: {script}");
        assert!(!script.contains("bootstrap.exe"), "{os}: {script}");
        for fragment in ["acme.semaphoreci.com", "$HOME", "日本語", "/ci/token"] {
            assert!(
                !script.contains(fragment),
                "{os} has {fragment} as text: {script}"
            );
        }
        assert!(
            script.contains(&BASE64.encode(TRICKY_CONFIG)),
            "{os}: {script}"
        );
    }
}

#[test]
fn base64_flag_encodes_the_whole_user_data() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config.json", SIMPLE_CONFIG.as_bytes());
    let plain = userdata("linux", "--config", &config).success().stdout();
    let encoded = Cmd::imagekit()
        .args(["userdata", "--os", "linux", "--base64", "--config"])
        .arg(&config)
        .run()
        .success()
        .stdout();
    assert_eq!(BASE64.decode(encoded.trim_end()).unwrap(), plain.as_bytes());
}

fn stack_fixture(os: &str) -> PathBuf {
    repo_root().join(format!("tests/fixtures/agent-aws-stack/{os}-config.json"))
}

/// The boot config each agent-aws-stack example maps to, as it reaches the instance (decoded by
/// the OS's own path: cloud-init for Linux, the real script for macOS, base64 for Windows).
#[test]
fn stack_config_examples_give_the_expected_boot_configs() {
    for os in ["linux", "windows", "macos"] {
        let dir = tempfile::tempdir().unwrap();
        let run = userdata(os, "--stack-config", &stack_fixture(os));
        run.success();
        let note = run.one_line_error();
        let config = match os {
            "linux" => {
                let out = write(dir.path(), "user-data", &run.output.stdout);
                let root = dir.path().join("root");
                std::fs::create_dir(&root).unwrap();
                cloud_init_write_files(&out, &root);
                std::fs::read(root.join("etc/imagekit/bootstrap.json")).unwrap()
            }
            "windows" => windows_written_config(&run.stdout()),
            _ => {
                let script = write(dir.path(), "user-data.sh", &run.output.stdout);
                run_macos_script(&script, dir.path()).0
            }
        };
        // What reaches the instance is a valid boot config for the bootstrap's own schema.
        let parsed: imagekit_bootstrap::config::BootConfigLayer =
            serde_json::from_slice(&config).unwrap();
        assert_eq!(
            parsed.agent,
            Some(imagekit_bootstrap::config::AgentKind::Semaphore)
        );
        insta::assert_snapshot!(
            format!("stack_config_{os}"),
            format!("stderr: {note}\n{}", String::from_utf8(config).unwrap())
        );
    }
}

#[test]
fn stack_config_for_another_os_is_refused() {
    let run = userdata("linux", "--stack-config", &stack_fixture("windows"));
    run.code(2);
    let line = run.one_line_error();
    assert!(line.contains("SEMAPHORE_AGENT_OS"), "{line}");
    assert!(run.stdout().is_empty());
}

/// Bad input: exit 2, one line on stderr, nothing on stdout; a token never echoed.
fn refused(os: &str, flag: &str, content: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config.json", content);
    let run = userdata(os, flag, &config);
    run.code(2);
    assert!(run.stdout().is_empty(), "{}", run.stdout());
    run.one_line_error()
}

const FAKE_TOKEN: &str = "Zm9vYmFyLTQyLXNlY3JldC1Ub2tlbi0xMjM0NTY3ODkw";

#[test]
fn a_token_in_the_config_is_refused_and_never_echoed() {
    let cases: Vec<(&str, String)> = vec![
        (
            "--config",
            format!(r#"{{"endpoint":"a.semaphoreci.com","token":"{FAKE_TOKEN}"}}"#),
        ),
        (
            "--config",
            format!(
                r#"{{"token_parameter":"/t","env":{{"SEMAPHORE_AGENT_TOKEN":"{FAKE_TOKEN}"}}}}"#
            ),
        ),
        // A token pasted where a name belongs.
        (
            "--config",
            format!(r#"{{"token_parameter":"{FAKE_TOKEN}"}}"#),
        ),
        (
            "--stack-config",
            format!(
                r#"{{"SEMAPHORE_ORGANIZATION":"acme","SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME":"t","SEMAPHORE_AGENT_TOKEN":"{FAKE_TOKEN}"}}"#
            ),
        ),
    ];
    for (flag, content) in cases {
        for os in ["linux", "windows", "macos"] {
            let line = refused(os, flag, content.as_bytes());
            assert!(line.contains("must live in SSM"), "{line}");
            assert!(line.contains("token_parameter"), "{line}");
            assert!(!line.contains(FAKE_TOKEN), "the token leaked: {line}");
        }
    }
}

#[test]
fn oversize_user_data_is_refused() {
    // ~12.5 KB of config becomes > 16 KB once base64-encoded into the user-data.
    let filler = "lorem ipsum dolor sit amet ".repeat(460);
    let config = format!(r#"{{"token_parameter":"/t","env":{{"NOTES":"{filler}"}}}}"#);
    for os in ["linux", "windows", "macos"] {
        let line = refused(os, "--config", config.as_bytes());
        assert!(line.contains("16384"), "{line}");
    }
    // Just under the limit passes: the check is on the raw bytes, not the base64 form.
    let filler = "lorem ipsum dolor sit amet ".repeat(420);
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "c.json",
        format!(r#"{{"token_parameter":"/t","env":{{"NOTES":"{filler}"}}}}"#).as_bytes(),
    );
    let out = userdata("linux", "--config", &config).success().stdout();
    assert!(out.len() <= 16384 && out.len() > 15000, "{}", out.len());
}

#[test]
fn unknown_os_malformed_json_and_unknown_keys_are_refused_with_one_line() {
    let line = refused("solaris", "--config", SIMPLE_CONFIG.as_bytes());
    assert!(line.contains("solaris"), "{line}");
    let line = refused("linux", "--config", b"{\"endpoint\": ");
    assert!(line.contains("malformed JSON"), "{line}");
    let line = refused(
        "linux",
        "--stack-config",
        b"{\"SEMAPHORE_ORGANIZATION\": acme}",
    );
    assert!(line.contains("malformed JSON"), "{line}");
    let line = refused(
        "macos",
        "--config",
        br#"{"endpoint":"a","tokn_parameter":"/t"}"#,
    );
    assert!(line.contains("tokn_parameter"), "{line}");
    let line = refused(
        "linux",
        "--stack-config",
        br#"{"SEMAPHORE_ORGANIZATION":"a","AGENT_NAME":"x"}"#,
    );
    assert!(line.contains("AGENT_NAME"), "{line}");
}

#[test]
fn a_section_for_another_agent_kind_is_refused_and_the_agents_own_passes() {
    let line = refused(
        "linux",
        "--config",
        br#"{"token_parameter":"/t","buildkite":{"queue":"q"}}"#,
    );
    assert!(
        line.ends_with(
            "config.json: key `buildkite`: a section for agent kind buildkite, but `agent` is semaphore: remove it, or set `agent` to buildkite"
        ),
        "{line}"
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, config) in [
        ("own.json", r#"{"token_parameter":"/t","semaphore":{}}"#),
        // The config parameter, read at boot, may still set `agent`: the instance decides.
        (
            "later.json",
            r#"{"config_parameter":"fleet-config","circleci":{"max_run_time":3600}}"#,
        ),
    ] {
        let path = write(dir.path(), name, config.as_bytes());
        userdata("linux", "--config", &path).success();
    }
}

#[test]
fn help_snapshot() {
    let help = Cmd::imagekit()
        .args(["userdata", "--help"])
        .env("COLUMNS", "100")
        .run()
        .success()
        .stdout();
    insta::assert_snapshot!("userdata_help", help);
}
