# The Buildkite agent (v3) in C:\buildkite-agent, verified against the SHA256SUMS its release
# publishes, and the directories it works in. Only the binary is installed: imagekit-bootstrap
# writes the agent's config and its service is the only starter.
#
# The release, as buildkite/agent@d312b88 (tag v3.137.0) publishes it:
#   https://github.com/buildkite/agent/releases/download/v${VERSION}/buildkite-agent-windows-amd64-${VERSION}.zip
#     (scripts/build-github-release.sh: Windows builds are zipped, holding buildkite-agent.exe and
#     buildkite-agent.cfg; the URL as install.sh builds it for the other systems)
#   buildkite-agent-${VERSION}.SHA256SUMS beside it (.buildkite/steps/build-github-release.sh)
# The directories are the Windows release's (packaging/github/windows/buildkite-agent.cfg:
# build-path, hooks-path, plugins-path).
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12

$tag = $env:IMAGEKIT_AGENT_VERSION
if (-not $tag) { throw 'IMAGEKIT_AGENT_VERSION is not set' }
$version = $tag.TrimStart('v')
$asset = "buildkite-agent-windows-amd64-$version.zip"
$sums = "buildkite-agent-$version.SHA256SUMS"
$base = "https://github.com/buildkite/agent/releases/download/v$version"
$work = Join-Path $env:TEMP 'imagekit-agent'
New-Item -ItemType Directory -Force -Path $work | Out-Null

Invoke-WebRequest -UseBasicParsing -Uri "$base/$asset" -OutFile (Join-Path $work $asset)
Invoke-WebRequest -UseBasicParsing -Uri "$base/$sums" -OutFile (Join-Path $work $sums)

# The same check as on Linux and macOS: imagekit-bootstrap's, installed by the script before this.
$bootstrap = Join-Path $env:ProgramFiles 'imagekit\imagekit-bootstrap.exe'
& $bootstrap verify-sha256 --checksums (Join-Path $work $sums) (Join-Path $work $asset)
if ($LASTEXITCODE -ne 0) { throw "$asset does not match its release's checksums: not installing it" }

$release = Join-Path $work 'release'
Expand-Archive -Path (Join-Path $work $asset) -DestinationPath $release -Force
$dir = 'C:\buildkite-agent'
foreach ($d in @($dir, "$dir\hooks", "$dir\plugins", "$dir\builds")) {
  New-Item -ItemType Directory -Force -Path $d | Out-Null
}
Copy-Item -Force -Path (Join-Path $release 'buildkite-agent.exe') -Destination "$dir\buildkite-agent.exe"
Remove-Item -Recurse -Force $work
& "$dir\buildkite-agent.exe" --version
