<powershell>
# Build-time only: a WinRM listener on HTTPS (5986) with a self-signed certificate, so Packer
# never talks to the instance in clear text. The sysprep at the end of the build removes it.
$ErrorActionPreference = 'Stop'
Set-ExecutionPolicy -ExecutionPolicy RemoteSigned -Scope LocalMachine -Force
$cert = New-SelfSignedCertificate -CertStoreLocation 'Cert:\LocalMachine\My' -DnsName $env:COMPUTERNAME
Get-ChildItem -Path 'WSMan:\localhost\Listener' | Where-Object { $_.Keys -contains 'Transport=HTTP' } | Remove-Item -Recurse -Force
New-Item -Path 'WSMan:\localhost\Listener' -Transport HTTPS -Address * -CertificateThumbPrint $cert.Thumbprint -Force | Out-Null
Set-Item -Path 'WSMan:\localhost\Service\Auth\Basic' -Value $true
Set-Item -Path 'WSMan:\localhost\MaxTimeoutms' -Value 1800000
New-NetFirewallRule -DisplayName 'WinRM HTTPS (imagekit build)' -Direction Inbound -Protocol TCP -LocalPort 5986 -Action Allow | Out-Null
Restart-Service -Name WinRM
</powershell>
