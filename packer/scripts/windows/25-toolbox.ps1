# Semaphore's toolbox (checkout, cache, artifact) for the agent's jobs, from a pinned release
# verified against its checksums. The agent runs as LocalSystem (the bootstrap's service account),
# so the toolbox goes where the agent's own installer would put it for that account
# (semaphoreci/agent@7fc190af6847b2d41fd983ad41b591fc09b87cb6 install.ps1: `$HOME\.toolbox`).
# Its install script (install-toolbox.ps1, semaphoreci/toolbox@49b692eaf98fce8ac964d34c4a24a176230e04c6
# install-self-hosted-toolbox.ps1) would copy the Checkout module into the first module path of
# the account running it, which here is Packer's, not the agent's; so the module goes to the
# all-users module path instead, and the tools' bin folder onto the machine PATH, which is
# what that release's packaging expects (semaphoreci/toolbox@a3a17cd8c6f593735da55fc8393f05f25c34689f
# release/create.sh: "we add the '$HOME/.toolbox/bin' folder to the user's PATH").
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12

$version = $env:IMAGEKIT_TOOLBOX_VERSION
if (-not $version) { throw 'IMAGEKIT_TOOLBOX_VERSION is not set' }
$asset = 'self-hosted-windows.tar'
$base = "https://github.com/semaphoreci/toolbox/releases/download/$version"
$work = Join-Path $env:TEMP 'imagekit-toolbox'
New-Item -ItemType Directory -Force -Path $work | Out-Null

Invoke-WebRequest -UseBasicParsing -Uri "$base/$asset" -OutFile (Join-Path $work $asset)
Invoke-WebRequest -UseBasicParsing -Uri "$base/checksums.txt" -OutFile (Join-Path $work 'checksums.txt')
$bootstrap = Join-Path $env:ProgramFiles 'imagekit\imagekit-bootstrap.exe'
& $bootstrap verify-sha256 --checksums (Join-Path $work 'checksums.txt') (Join-Path $work $asset)
if ($LASTEXITCODE -ne 0) { throw "$asset does not match its release's checksums: not installing it" }

tar.exe -xf (Join-Path $work $asset) -C $work
if ($LASTEXITCODE -ne 0) { throw "extracting $asset failed" }
$systemHome = Join-Path $env:SystemRoot 'System32\config\systemprofile'
$toolbox = Join-Path $systemHome '.toolbox'
if (Test-Path $toolbox) { Remove-Item -Recurse -Force $toolbox }
Move-Item -Path (Join-Path $work 'toolbox') -Destination $toolbox

# Releases have named the module file both ways.
$module = @('Checkout.psm1', 'libcheckout.psm1') | ForEach-Object { Join-Path $toolbox $_ } |
  Where-Object { Test-Path $_ } | Select-Object -First 1
if (-not $module) { throw "$asset holds no Checkout module (Checkout.psm1 or libcheckout.psm1)" }
# The .psm1 must be named after its folder for PowerShell to load it by name.
$moduleDir = Join-Path $env:ProgramFiles 'WindowsPowerShell\Modules\Checkout'
if (Test-Path $moduleDir) { Remove-Item -Recurse -Force $moduleDir }
New-Item -ItemType Directory -Force -Path $moduleDir | Out-Null
Copy-Item -Path $module -Destination (Join-Path $moduleDir 'Checkout.psm1')

$bin = Join-Path $toolbox 'bin'
$path = [Environment]::GetEnvironmentVariable('Path', 'Machine')
if (($path -split ';') -notcontains $bin) {
  [Environment]::SetEnvironmentVariable('Path', "$path;$bin", 'Machine')
}
Remove-Item -Recurse -Force $work
if (-not (Test-Path (Join-Path $bin 'cache.exe'))) { throw "$asset holds no bin\cache.exe" }
