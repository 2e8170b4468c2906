# The CloudWatch agent, so boot and job logs reach CloudWatch: the pinned release from Amazon's
# bucket, installed only when its Authenticode signature is Valid and its signer certificate's
# subject is the pinned one (the check and the subject: aws/aws-rfdk@39c3b07:
# packages/aws-rfdk/lib/core/scripts/powershell/configureCloudWatchAgent.ps1, which also shows
# the versioned key windows/amd64/<version>/amazon-cloudwatch-agent.msi). The subject, not the
# thumbprint: Amazon's certificate is renewed, its subject stays.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12

$version = $env:IMAGEKIT_CLOUDWATCH_AGENT_VERSION
$signer = $env:IMAGEKIT_CLOUDWATCH_AGENT_SIGNER
if (-not $version) { throw 'IMAGEKIT_CLOUDWATCH_AGENT_VERSION is not set' }
if (-not $signer) { throw 'IMAGEKIT_CLOUDWATCH_AGENT_SIGNER is not set' }
$what = "amazon-cloudwatch-agent.msi (CloudWatch agent $version)"

$msi = Join-Path $env:TEMP 'amazon-cloudwatch-agent.msi'
$uri = 'https://amazoncloudwatch-agent.s3.amazonaws.com/windows/amd64/{0}/amazon-cloudwatch-agent.msi' -f $version
Invoke-WebRequest -UseBasicParsing -Uri $uri -OutFile $msi

$sig = Get-AuthenticodeSignature -FilePath $msi
if ($sig.Status -ne 'Valid') {
  Remove-Item -Force $msi
  throw "${what}: its Authenticode signature is $($sig.Status) ($($sig.StatusMessage)); not installing it"
}
$subject = $sig.SignerCertificate.Subject
if ($subject -ne $signer) {
  Remove-Item -Force $msi
  throw "${what}: signed by '$subject', not the pinned '$signer'; not installing it"
}
Write-Output "${what}: signed by $subject"

$p = Start-Process -FilePath 'msiexec.exe' -ArgumentList @('/i', $msi, '/qn', '/norestart') -Wait -PassThru
if ($p.ExitCode -ne 0) { throw "installing the CloudWatch agent failed: msiexec exit $($p.ExitCode)" }
Remove-Item -Force $msi
