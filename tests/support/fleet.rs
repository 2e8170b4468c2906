//! Real moto fleets for the bootstrap tests: a launch template and an ASG whose instances the
//! IMDS stand-in then plays.

use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance, LaunchTemplateSpecification};

use super::moto::Account;

pub fn asg_client(account: &Account) -> aws_sdk_autoscaling::Client {
    aws_sdk_autoscaling::Client::new(&account.sdk_config(&account.region))
}

pub fn ssm_client(account: &Account) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&account.sdk_config(&account.region))
}

pub fn s3_client(account: &Account) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&account.sdk_config(&account.region))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub struct Fleet {
    pub account: Account,
    pub asg_name: String,
}

impl Fleet {
    /// A launch template and an ASG of `desired` instances (max 250) in the account's region.
    pub async fn create(account: &Account, name: &str, desired: i32) -> Fleet {
        Fleet::create_sized(account, name, 0, 250, desired).await
    }

    /// [`Fleet::create`] with the ASG's min and max sizes.
    pub async fn create_sized(
        account: &Account,
        name: &str,
        min: i32,
        max: i32,
        desired: i32,
    ) -> Fleet {
        let ec2 = account.ec2(&account.region);
        let images = ec2
            .describe_images()
            .owners("amazon")
            .send()
            .await
            .expect("moto DescribeImages");
        let image = images
            .images()
            .iter()
            .find_map(|i| i.image_id())
            .expect("moto ships default AMIs")
            .to_string();
        ec2.create_launch_template()
            .launch_template_name(name)
            .launch_template_data(
                aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                    .image_id(image)
                    .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                    .build(),
            )
            .send()
            .await
            .expect("moto CreateLaunchTemplate");
        asg_client(account)
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_name(name)
                    .version("$Latest")
                    .build(),
            )
            .min_size(min)
            .max_size(max)
            .desired_capacity(desired)
            .availability_zones(format!("{}a", account.region))
            .send()
            .await
            .expect("moto CreateAutoScalingGroup");
        Fleet {
            account: account.clone(),
            asg_name: name.into(),
        }
    }

    async fn group(&self) -> AutoScalingGroup {
        let out = asg_client(&self.account)
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.asg_name)
            .send()
            .await
            .expect("moto DescribeAutoScalingGroups");
        out.auto_scaling_groups()[0].clone()
    }

    pub async fn instances(&self) -> Vec<Instance> {
        self.group().await.instances().to_vec()
    }

    pub async fn instance_ids(&self) -> Vec<String> {
        self.instances()
            .await
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect()
    }

    pub async fn desired(&self) -> i32 {
        self.group().await.desired_capacity().unwrap()
    }

    /// The processes the group has suspended (`AZRebalance`, ...).
    pub async fn suspended_processes(&self) -> Vec<String> {
        self.group()
            .await
            .suspended_processes()
            .iter()
            .filter_map(|p| p.process_name().map(str::to_string))
            .collect()
    }

    /// Suspends `process` on the group, as `imagekit stack deploy` does for AZ rebalancing.
    pub async fn suspend(&self, process: &str) {
        asg_client(&self.account)
            .suspend_processes()
            .auto_scaling_group_name(&self.asg_name)
            .scaling_processes(process)
            .send()
            .await
            .expect("moto SuspendProcesses");
    }

    /// The EC2 state of an instance ("running", "terminated", ...).
    pub async fn ec2_state(&self, instance_id: &str) -> String {
        let out = self
            .account
            .ec2(&self.account.region)
            .describe_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .expect("moto DescribeInstances");
        out.reservations()[0].instances()[0]
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap()
    }

    /// Health status the ASG records for an instance.
    pub async fn health(&self, instance_id: &str) -> Option<String> {
        self.instances()
            .await
            .into_iter()
            .find(|i| i.instance_id() == Some(instance_id))
            .and_then(|i| i.health_status().map(str::to_string))
    }

    /// Creates or replaces (rotates) a SecureString.
    pub async fn put_secure(&self, name: &str, value: &str) {
        ssm_client(&self.account)
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .expect("moto PutParameter");
    }

    pub async fn put_string(&self, name: &str, value: &str) {
        ssm_client(&self.account)
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .expect("moto PutParameter");
    }

    /// The group's failed-start mark (`imagekit:failed-start`), if set.
    pub async fn failed_start_mark(&self) -> Option<String> {
        let out = asg_client(&self.account)
            .describe_tags()
            .filters(
                aws_sdk_autoscaling::types::Filter::builder()
                    .name("auto-scaling-group")
                    .values(&self.asg_name)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        out.tags()
            .iter()
            .find(|t| t.key() == Some("imagekit:failed-start"))
            .and_then(|t| t.value().map(str::to_string))
    }
}
