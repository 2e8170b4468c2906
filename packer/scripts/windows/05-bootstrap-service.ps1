# imagekit-bootstrap as the Windows service `imagekit-bootstrap`: automatic start at the next
# boot, never started in the image. It runs once per boot; the service manager does not restart it.
# Installed first: the scripts after it check their downloads with `imagekit-bootstrap verify-sha256`.
$ErrorActionPreference = 'Stop'

$staged = 'C:\Windows\Temp\imagekit-bootstrap.exe'
if (-not (Test-Path $staged)) {
  throw 'no imagekit-bootstrap.exe in this build directory: render it again with --bootstrap-bin PATH'
}
# imagekit checked this binary against SHA256SUMS while planning; check again on the builder,
# so what reaches the image is exactly what was planned.
$actual = (Get-FileHash -Algorithm SHA256 -Path $staged).Hash.ToLowerInvariant()
if ($actual -ne $env:IMAGEKIT_BOOTSTRAP_SHA256) {
  throw "imagekit-bootstrap.exe: sha256 $actual, expected $($env:IMAGEKIT_BOOTSTRAP_SHA256): not installing it"
}
$dir = Join-Path $env:ProgramFiles 'imagekit'
$exe = Join-Path $dir 'imagekit-bootstrap.exe'
New-Item -ItemType Directory -Force -Path $dir | Out-Null
New-Item -ItemType Directory -Force -Path 'C:\ProgramData\imagekit' | Out-Null
Move-Item -Force -Path $staged -Destination $exe

if (Get-Service -Name 'imagekit-bootstrap' -ErrorAction SilentlyContinue) {
  & sc.exe delete imagekit-bootstrap | Out-Null
}
# `run --service` talks to the service manager: it reports Running, and a service stop (or the OS
# shutting down) stops the agent and gives the instance back before the service reports Stopped.
New-Service -Name 'imagekit-bootstrap' -BinaryPathName "`"$exe`" run --service" -DisplayName 'imagekit bootstrap' `
  -Description 'Registers this instance as a CI agent, once per boot.' -StartupType Automatic | Out-Null
# Start after the network and EC2Launch have run, and never restart on failure.
& sc.exe config imagekit-bootstrap depend= 'Tcpip/Dnscache' | Out-Null
& sc.exe failure imagekit-bootstrap reset= 0 actions= '""' | Out-Null
& $exe --version
