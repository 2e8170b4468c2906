# Last step: reset EC2Launch v2 so the next boot runs its first-boot tasks (new password, user
# data), then generalize with sysprep. Packer stops the instance afterwards and takes the image.
$ErrorActionPreference = 'Stop'
$ec2launch = Join-Path $env:ProgramFiles 'Amazon\EC2Launch\EC2Launch.exe'
& $ec2launch reset --clean --block
if ($LASTEXITCODE -ne 0) { throw "ec2launch reset failed: exit $LASTEXITCODE" }
& $ec2launch sysprep --clean --block
if ($LASTEXITCODE -ne 0) { throw "ec2launch sysprep failed: exit $LASTEXITCODE" }
