//! The dist binaries (`cargo xtask dist`) and the emulators that run them here: qemu-user for
//! aarch64 Linux, wine for Windows.
//!
//! Tests never build dist themselves (a nested cargo build would wait on the lock the test run
//! holds): `scripts/test` runs `cargo xtask dist` first, and a missing or unverified binary fails
//! the test with that advice.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use imagekit_core::dist::{LambdaArch, Target};

use super::cmd::Cmd;

pub fn dist_dir() -> PathBuf {
    super::repo_root().join(imagekit_core::dist::DEFAULT_DIR)
}

/// `target`'s dist binary, verified against dist/SHA256SUMS.
pub fn binary(target: Target) -> PathBuf {
    match imagekit_core::dist::verify(&dist_dir(), target) {
        Ok((path, _)) => path,
        Err(e) => panic!("{e}: run `cargo xtask dist` first (scripts/test does)"),
    }
}

/// The `bootstrap` of the scaler's Lambda zip for `arch` (dist/SHA256SUMS vouching for the
/// zip), unpacked into `dir` as Lambda unpacks it: executable.
pub fn scaler_bootstrap(arch: LambdaArch, dir: &Path) -> PathBuf {
    let dist = dist_dir();
    let zip = dist.join(imagekit_core::dist::scaler_zip_name(arch));
    let sums = imagekit_core::dist::Sums::read(&dist).unwrap_or_else(|e| {
        panic!("{e}: run `cargo xtask dist --scaler` first (scripts/test does)")
    });
    if let Err(e) = imagekit_core::dist::verify_file(&zip, &sums, &dist.join("SHA256SUMS")) {
        panic!("{e}: run `cargo xtask dist --scaler` first (scripts/test does)");
    }
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let mut entry = archive
        .by_name(imagekit_core::dist::SCALER_ENTRY)
        .expect("the zip holds `bootstrap`");
    let mode = entry.unix_mode().expect("the entry keeps its unix mode");
    assert_eq!(mode & 0o111, 0o111, "`bootstrap` is executable in the zip");
    let path = dir.join(imagekit_core::dist::SCALER_ENTRY);
    let mut out = std::fs::File::create(&path).unwrap();
    std::io::copy(&mut entry, &mut out).unwrap();
    drop(out);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777)).unwrap();
    path
}

/// `qemu-aarch64-static` (Debian's qemu-user-static), to run the aarch64 binary.
pub fn qemu_aarch64() -> PathBuf {
    super::tool("IMAGEKIT_QEMU_AARCH64", "qemu-aarch64-static")
}

/// Runs the aarch64 dist binary under qemu.
pub fn qemu_bootstrap() -> Cmd {
    Cmd::new(qemu_aarch64()).arg(binary(Target::Aarch64LinuxMusl))
}

/// Debian's `wine64` package puts its loader in /usr/lib/wine (the `wine` package adds the
/// PATH wrapper).
pub fn wine() -> PathBuf {
    let debian = Path::new("/usr/lib/wine/wine64");
    if std::env::var_os("IMAGEKIT_WINE").is_none() && debian.is_file() {
        return debian.to_path_buf();
    }
    super::tool("IMAGEKIT_WINE", "wine64")
}

/// A wine prefix shared by the test process, initialised once: concurrent first runs in a fresh
/// prefix race to create it.
fn wine_prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let prefix = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wineprefix");
        std::fs::create_dir_all(&prefix).unwrap();
        let out = wine_env(Cmd::new(wine()), &prefix)
            .args(["wineboot", "--init"])
            .run();
        // A new prefix is announced on stderr (and wine 8 always misses a 32-bit rundll32
        // there); a prefix already made says nothing. Neither is the bootstrap's output.
        out.stderr_any();
        assert!(
            out.output.status.success(),
            "wineboot --init failed:\n{}",
            out.stderr()
        );
        prefix
    })
}

fn wine_env(cmd: Cmd, prefix: &Path) -> Cmd {
    cmd.env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        // No Mono or Gecko install prompts: the bootstrap needs neither.
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env_remove("DISPLAY")
}

/// Builds a test-only Windows fixture from `tests/fixtures/<source>` with mingw, once per test
/// process per output.
fn mingw_built(
    cell: &'static OnceLock<PathBuf>,
    output: &str,
    source: &str,
    flags: &[&str],
) -> &'static Path {
    cell.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wine-fixtures");
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join(output);
        let source = super::repo_root().join("tests/fixtures").join(source);
        Cmd::new(super::tool("IMAGEKIT_MINGW_CC", "x86_64-w64-mingw32-gcc"))
            .args(["-O2", "-o"])
            .arg(&out)
            .arg(source)
            .args(flags)
            .run()
            .success();
        out
    })
}

/// The test-only `bcryptprimitives.dll` (tests/fixtures/bcryptprimitives.c).
pub fn prng_shim() -> &'static Path {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    mingw_built(
        &SHIM,
        "bcryptprimitives.dll",
        "bcryptprimitives.c",
        &["-shared", "-ladvapi32"],
    )
}

/// The Windows stand-in agent (tests/fixtures/standin-agent.c).
pub fn standin_agent_exe() -> &'static Path {
    static AGENT: OnceLock<PathBuf> = OnceLock::new();
    mingw_built(
        &AGENT,
        "standin-agent.exe",
        "standin-agent.c",
        &["-ladvapi32"],
    )
}

/// The Buildkite stand-in built for Windows (standins/src/bin/buildkite_agent_standin.rs, the
/// same source as the Unix one): beside the host's binaries, under the cross target's dir of the
/// same profile. scripts/test builds it; the tests never do (a nested cargo build would wait on
/// the lock the test run holds).
pub fn windows_buildkite_standin() -> PathBuf {
    let host_dir = super::imagekit_bin()
        .parent()
        .expect("the binaries' dir")
        .to_path_buf();
    let profile = host_dir.file_name().expect("the profile's dir");
    let path = host_dir
        .parent()
        .expect("the target dir")
        .join("x86_64-pc-windows-gnu")
        .join(profile)
        .join("buildkite_agent_standin.exe");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p imagekit-standins --bin buildkite_agent_standin --target x86_64-pc-windows-gnu` first (scripts/test does)",
        path.display()
    );
    path
}

/// How a Windows program under wine names a host path: wine maps the Unix root to drive Z:.
pub fn wine_path(path: &Path) -> PathBuf {
    PathBuf::from(format!("Z:{}", path.display()).replace('/', "\\"))
}

/// The Windows dist exe copied into its own temp dir, optionally with the PRNG shim beside it
/// (Windows looks for DLLs in the exe's directory first). Never touches dist/.
pub struct WineExe {
    pub dir: tempfile::TempDir,
    pub exe: PathBuf,
}

impl WineExe {
    pub fn new(with_shim: bool) -> WineExe {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("imagekit-bootstrap.exe");
        std::fs::copy(binary(Target::X86_64WindowsGnu), &exe).unwrap();
        if with_shim {
            std::fs::copy(prng_shim(), dir.path().join("bcryptprimitives.dll")).unwrap();
        }
        WineExe { dir, exe }
    }

    /// `wine imagekit-bootstrap.exe ...`, with a quiet, prompt-free shared prefix.
    pub fn cmd(&self) -> Cmd {
        wine_env(Cmd::new(wine()), wine_prefix())
            .arg(&self.exe)
            .current_dir(self.dir.path())
    }
}

/// `wineserver` beside the wine loader (Debian: /usr/lib/wine/wineserver64).
pub fn wineserver() -> PathBuf {
    if let Some(path) = std::env::var_os("IMAGEKIT_WINESERVER") {
        return PathBuf::from(path);
    }
    let beside = wine().with_file_name("wineserver64");
    if beside.is_file() {
        return beside;
    }
    super::tool("IMAGEKIT_WINESERVER", "wineserver")
}

/// A wine prefix of its own, for a test that changes machine-wide state (a service, the system
/// environment), so that the shared prefix and the tests using it are never disturbed. Its
/// wineserver is persistent: otherwise the session, and the service in it, ends as soon as the
/// last `sc` command exits. Dropping it kills its wineserver and every process in the prefix.
pub struct PrivateWine {
    pub dir: tempfile::TempDir,
    prefix: PathBuf,
}

impl PrivateWine {
    /// `system_env` goes into the registry's system environment (Session Manager\Environment):
    /// wine's services.exe gives each service an environment built from there, not its own
    /// (`CreateEnvironmentBlock` without inheriting), so a variable in the environment of
    /// whichever wine command started it never reaches a service.
    pub fn new(system_env: &[(&str, &str)]) -> PrivateWine {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("prefix");
        std::fs::create_dir_all(&prefix).unwrap();
        let wine = PrivateWine { dir, prefix };
        wine.quiet(&["wineboot", "--init"]);
        for (name, value) in system_env {
            wine.cmd("reg")
                .args([
                    "add",
                    r"HKLM\System\CurrentControlSet\Control\Session Manager\Environment",
                    "/v",
                    name,
                    "/t",
                    "REG_SZ",
                    "/d",
                    value,
                    "/f",
                ])
                .run()
                .success();
        }
        // services.exe reads that environment once, and the boot's own services already made it
        // do so: end this session, then start a persistent one.
        wine.wineserver(&["-k"]);
        wine.wineserver(&["-w"]);
        wine.wineserver(&["-p"]);
        // The first command of a session starts services.exe and the other system processes,
        // which inherit its stdout and stderr: give them none, or capturing any command's output
        // would wait for the session to end.
        wine.quiet(&["wineboot"]);
        wine
    }

    /// `wine <program> ...` in this prefix, quiet and prompt-free.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Cmd {
        wine_env(Cmd::new(wine()), &self.prefix).arg(program)
    }

    /// The prefix's `C:\` (`C:\ProgramData\...` is `drive_c/ProgramData/...` below it).
    pub fn drive_c(&self) -> PathBuf {
        self.prefix.join("drive_c")
    }

    /// `wine sc <args>`: the service manager's own client.
    pub fn sc(&self, args: &[&str]) -> super::cmd::Run {
        self.cmd("sc").args(args).run()
    }

    /// `wine <args>` with no stdin, stdout or stderr, so that lingering wine processes hold no
    /// pipe of ours.
    fn quiet(&self, args: &[&str]) {
        let status = self
            .cmd(args[0])
            .args(&args[1..])
            .into_command()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "wine {args:?}: {status}");
    }

    fn wineserver(&self, args: &[&str]) {
        let status = std::process::Command::new(wineserver())
            .args(args)
            .env("WINEPREFIX", &self.prefix)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        // `-k` fails harmlessly when no server runs.
        assert!(
            status.success() || args == ["-k"],
            "wineserver {args:?}: {status}"
        );
    }
}

impl Drop for PrivateWine {
    fn drop(&mut self) {
        let _ = std::process::Command::new(wineserver())
            .arg("-k")
            .env("WINEPREFIX", &self.prefix)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
