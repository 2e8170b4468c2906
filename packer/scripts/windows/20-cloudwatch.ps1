# The CloudWatch agent, so boot and job logs reach CloudWatch.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12

$msi = Join-Path $env:TEMP 'amazon-cloudwatch-agent.msi'
Invoke-WebRequest -UseBasicParsing -Uri 'https://amazoncloudwatch-agent.s3.amazonaws.com/windows/amd64/latest/amazon-cloudwatch-agent.msi' -OutFile $msi
$p = Start-Process -FilePath 'msiexec.exe' -ArgumentList @('/i', $msi, '/qn', '/norestart') -Wait -PassThru
if ($p.ExitCode -ne 0) { throw "installing the CloudWatch agent failed: msiexec exit $($p.ExitCode)" }
Remove-Item -Force $msi
