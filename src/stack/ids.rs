//! The resources' logical ids. They never change for a stack once deployed: CloudFormation
//! would read a new id as a delete and a create.

pub const IMAGE_PARAMETER: &str = "ImageId";
pub const SCALER_CODE_BUCKET: &str = "ScalerCodeBucket";
pub const SCALER_CODE_KEY: &str = "ScalerCodeKey";

pub const INSTANCE_ROLE: &str = "InstanceRole";
pub const INSTANCE_PROFILE: &str = "InstanceProfile";
pub const SECURITY_GROUP: &str = "SecurityGroup";
pub const LAUNCH_TEMPLATE: &str = "LaunchTemplate";
pub const GROUP: &str = "AutoScalingGroup";
pub const HOST_RESOURCE_GROUP: &str = "HostResourceGroup";
pub const CACHE_BUCKET: &str = "CacheBucket";
pub const CACHE_BUCKET_POLICY: &str = "CacheBucketPolicy";
pub const SCALER_ROLE: &str = "ScalerRole";
pub const SCALER_FUNCTION: &str = "ScalerFunction";
pub const SCALER_LOG_GROUP: &str = "ScalerLogGroup";
pub const SCALER_SCHEDULE: &str = "ScalerSchedule";
pub const SCALER_PERMISSION: &str = "ScalerSchedulePermission";

/// `AgentLogGroup`, `BootstrapLogGroup`, ...: one per entry of `spec::LOG_STREAMS`.
pub fn log_group(stream: &str) -> String {
    let mut chars = stream.chars();
    let first = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or_default();
    format!("{first}{}LogGroup", chars.as_str())
}
