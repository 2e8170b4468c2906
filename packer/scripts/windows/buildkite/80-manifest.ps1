# Record what was installed (a Buildkite image).
$ErrorActionPreference = 'Stop'
$os = Get-CimInstance Win32_OperatingSystem
$manifest = [ordered]@{
  os        = "$($os.Caption) $($os.Version)"
  agent     = (& 'C:\buildkite-agent\buildkite-agent.exe' --version 2>&1 | Select-Object -First 1) -as [string]
  bootstrap = (& (Join-Path $env:ProgramFiles 'imagekit\imagekit-bootstrap.exe') --version 2>&1 | Select-Object -First 1) -as [string]
  cloudwatch_agent = (Test-Path (Join-Path $env:ProgramFiles 'Amazon\AmazonCloudWatchAgent\amazon-cloudwatch-agent-ctl.ps1'))
}
$manifest | ConvertTo-Json | Set-Content -Encoding UTF8 -Path 'C:\ProgramData\imagekit\image-manifest.json'
