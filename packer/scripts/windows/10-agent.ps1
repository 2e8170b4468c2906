# The Semaphore agent in C:\semaphore-agent, verified against the checksums its release publishes.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12

$version = $env:IMAGEKIT_AGENT_VERSION
if (-not $version) { throw 'IMAGEKIT_AGENT_VERSION is not set' }
$asset = 'agent_Windows_x86_64.tar.gz'
$base = "https://github.com/semaphoreci/agent/releases/download/$version"
$work = Join-Path $env:TEMP 'imagekit-agent'
New-Item -ItemType Directory -Force -Path $work | Out-Null

Invoke-WebRequest -UseBasicParsing -Uri "$base/$asset" -OutFile (Join-Path $work $asset)
Invoke-WebRequest -UseBasicParsing -Uri "$base/agent_checksums.txt" -OutFile (Join-Path $work 'agent_checksums.txt')

# The same check as on Linux and macOS: imagekit-bootstrap's, installed by the script before this.
$bootstrap = Join-Path $env:ProgramFiles 'imagekit\imagekit-bootstrap.exe'
& $bootstrap verify-sha256 --checksums (Join-Path $work 'agent_checksums.txt') (Join-Path $work $asset)
if ($LASTEXITCODE -ne 0) { throw "$asset does not match its release's checksums: not installing it" }

New-Item -ItemType Directory -Force -Path 'C:\semaphore-agent' | Out-Null
tar.exe -xzf (Join-Path $work $asset) -C 'C:\semaphore-agent'
if ($LASTEXITCODE -ne 0) { throw "extracting $asset failed" }
Remove-Item -Recurse -Force $work
& 'C:\semaphore-agent\agent.exe' version
