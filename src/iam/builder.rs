//! The image builder's policy: what Packer's `amazon-ebs` (temporary instance, key pair and
//! security group; `ami_regions` copies; `encrypt_boot`; tags) and imagekit's own EC2 and ASG
//! calls (look-ups, copy, tag, prune) need.

use super::scope::Scope;
use super::{Policy, Statement};

/// Packer names its temporary key pairs `packer_<uuid>`.
const PACKER_KEY_PAIR: &str = "key-pair/packer_*";

/// Tag keys the builder may write: Packer's `Name` and imagekit's own `imagekit:*` tags.
const TAG_KEYS: &[&str] = &["Name", "imagekit:*"];

/// Long by design: one list of statements that reads top to bottom like the document it prints,
/// each statement a few lines of data; splitting it would scatter the policy over functions.
pub fn policy(scope: &Scope) -> Policy {
    let ec2 = |resource: &str| scope.arns("ec2", resource);
    let image = || scope.arns_without_account("ec2", "image/*");
    let snapshot = || scope.arns_without_account("ec2", "snapshot/*");
    let (via_ec2, via_wildcard) = scope.via_service("ec2");

    let statements = vec![
        // No resource-level scope exists for these reads.
        Statement::allow(
            "DescribeWithoutResourceScope",
            [
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeKeyPairs",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:DescribeRegions",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSnapshots",
                "ec2:DescribeSubnets",
                "ec2:DescribeTags",
                "ec2:DescribeVolumes",
                "ec2:DescribeVpcs",
                "autoscaling:DescribeAutoScalingGroups",
            ],
            ["*"],
        ),
        // The one read that AWS scopes by resource.
        Statement::allow(
            "DescribeImageAttributes",
            ["ec2:DescribeImageAttribute"],
            image(),
        ),
        Statement::allow(
            "LaunchBuildInstance",
            ["ec2:RunInstances"],
            [
                ec2("instance/*"),
                ec2("volume/*"),
                ec2("network-interface/*"),
                ec2("security-group/*"),
                ec2("subnet/*"),
                ec2(PACKER_KEY_PAIR),
                image(),
                snapshot(),
            ]
            .concat(),
        ),
        Statement::allow(
            "ManageBuildInstance",
            [
                "ec2:StopInstances",
                "ec2:TerminateInstances",
                "ec2:ModifyInstanceAttribute",
                "ec2:GetPasswordData",
                "ec2:AttachVolume",
                "ec2:DetachVolume",
                "ec2:CreateVolume",
                "ec2:DeleteVolume",
            ],
            [ec2("instance/*"), ec2("volume/*")].concat(),
        ),
        Statement::allow(
            "TemporaryKeyPair",
            ["ec2:CreateKeyPair", "ec2:DeleteKeyPair"],
            ec2(PACKER_KEY_PAIR),
        ),
        Statement::allow(
            "TemporarySecurityGroup",
            [
                "ec2:CreateSecurityGroup",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:DeleteSecurityGroup",
            ],
            [ec2("security-group/*"), ec2("vpc/*")].concat(),
        ),
        Statement::allow(
            "CreateCopyAndPruneImages",
            [
                "ec2:CreateImage",
                "ec2:RegisterImage",
                "ec2:CopyImage",
                "ec2:ModifyImageAttribute",
                "ec2:DeregisterImage",
                "ec2:CreateSnapshot",
                "ec2:DeleteSnapshot",
                "ec2:ModifySnapshotAttribute",
            ],
            [image(), snapshot(), ec2("instance/*"), ec2("volume/*")].concat(),
        ),
        // Tags only with the keys Packer and imagekit write.
        Statement::allow(
            "TagBuildResources",
            ["ec2:CreateTags"],
            [
                image(),
                snapshot(),
                ec2("instance/*"),
                ec2("volume/*"),
                ec2("network-interface/*"),
                ec2("security-group/*"),
                ec2(PACKER_KEY_PAIR),
            ]
            .concat(),
        )
        .when(
            "ForAllValues:StringLike",
            "aws:TagKeys",
            TAG_KEYS.iter().copied(),
        ),
        // `encrypt_boot`: EBS uses the key on the builder's behalf, and only through EC2.
        Statement::allow(
            "EncryptBootVolumesThroughEc2",
            [
                "kms:CreateGrant",
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:Encrypt",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
            ],
            scope.arns("kms", "key/*"),
        )
        .when(
            if via_wildcard {
                "StringLike"
            } else {
                "StringEquals"
            },
            "kms:ViaService",
            via_ec2,
        ),
    ];
    Policy::new(statements)
}
