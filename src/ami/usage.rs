//! What keeps an image in use: launch template versions (an ASG's, the default, the latest),
//! launch configurations behind ASGs, and existing instances. `images prune` never removes an
//! image in use, and `images list` shows why each one is.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_ec2::types::Filter;

use super::{AmiError, Region};

/// Image ID → the reasons it is in use.
#[derive(Debug, Default, Clone)]
pub struct Usage(pub HashMap<String, Vec<String>>);

impl Usage {
    pub fn add(&mut self, image: &str, reason: String) {
        let reasons = self.0.entry(image.to_string()).or_default();
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }

    pub fn reasons(&self, image: &str) -> &[String] {
        self.0.get(image).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A launch template version an ASG launches from, as the group names it.
struct TemplateRef {
    asg: String,
    id: Option<String>,
    name: Option<String>,
    /// A number, `$Latest` or `$Default`.
    version: String,
}

/// What the region's Auto Scaling groups launch from.
#[derive(Default)]
struct Groups {
    templates: Vec<TemplateRef>,
    /// (ASG, launch configuration name).
    launch_configs: Vec<(String, String)>,
}

impl Region {
    /// Why each image in this region is in use.
    pub async fn usage(&self) -> Result<Usage, AmiError> {
        let mut usage = Usage::default();
        let groups = self.groups().await?;
        self.template_usage(&groups.templates, &mut usage).await?;
        self.launch_config_usage(&groups.launch_configs, &mut usage)
            .await?;
        self.instance_usage(&mut usage).await?;
        Ok(usage)
    }

    async fn groups(&self) -> Result<Groups, AmiError> {
        let out = self
            .autoscaling
            .describe_auto_scaling_groups()
            .send()
            .await
            .map_err(|e| AmiError::new("autoscaling:DescribeAutoScalingGroups", &self.name, &e))?;
        let mut groups = Groups::default();
        for group in out.auto_scaling_groups() {
            let name = group.auto_scaling_group_name().unwrap_or("?").to_string();
            let specs = group.launch_template().into_iter().chain(
                group
                    .mixed_instances_policy()
                    .and_then(|m| m.launch_template())
                    .and_then(|t| t.launch_template_specification()),
            );
            for spec in specs {
                groups.templates.push(TemplateRef {
                    asg: name.clone(),
                    id: spec.launch_template_id().map(str::to_string),
                    name: spec.launch_template_name().map(str::to_string),
                    version: spec.version().unwrap_or("$Default").to_string(),
                });
            }
            if let Some(lc) = group.launch_configuration_name() {
                groups.launch_configs.push((name.clone(), lc.to_string()));
            }
        }
        Ok(groups)
    }

    /// Every launch template's versions: the default, the latest, and those an ASG uses.
    async fn template_usage(
        &self,
        refs: &[TemplateRef],
        usage: &mut Usage,
    ) -> Result<(), AmiError> {
        let region = &self.name;
        let templates = self
            .ec2
            .describe_launch_templates()
            .send()
            .await
            .map_err(|e| AmiError::new("ec2:DescribeLaunchTemplates", region, &e))?;
        for template in templates.launch_templates() {
            let (Some(id), name) = (
                template.launch_template_id(),
                template.launch_template_name().unwrap_or(""),
            ) else {
                continue;
            };
            let default = template.default_version_number();
            let latest = template.latest_version_number();
            let versions = self
                .ec2
                .describe_launch_template_versions()
                .launch_template_id(id)
                .send()
                .await
                .map_err(|e| AmiError::new("ec2:DescribeLaunchTemplateVersions", region, &e))?;
            for version in versions.launch_template_versions() {
                let (Some(number), Some(image)) = (
                    version.version_number(),
                    version.launch_template_data().and_then(|d| d.image_id()),
                ) else {
                    continue;
                };
                let what = format!("launch template {name} ({id}) version {number}");
                if Some(number) == default {
                    usage.add(image, format!("{what} is its default"));
                }
                if Some(number) == latest {
                    usage.add(image, format!("{what} is its latest"));
                }
                for r in refs {
                    let same = r.id.as_deref() == Some(id) || r.name.as_deref() == Some(name);
                    let wanted = match r.version.as_str() {
                        "$Latest" => latest,
                        "$Default" => default,
                        v => v.parse().ok(),
                    };
                    if same && wanted == Some(number) {
                        usage.add(image, format!("{what} is used by ASG {}", r.asg));
                    }
                }
            }
        }
        Ok(())
    }

    /// The images of the launch configurations ASGs still use.
    async fn launch_config_usage(
        &self,
        launch_configs: &[(String, String)],
        usage: &mut Usage,
    ) -> Result<(), AmiError> {
        if launch_configs.is_empty() {
            return Ok(());
        }
        let names: BTreeSet<String> = launch_configs.iter().map(|(_, n)| n.clone()).collect();
        let configs = self
            .autoscaling
            .describe_launch_configurations()
            .set_launch_configuration_names(Some(names.into_iter().collect()))
            .send()
            .await
            .map_err(|e| {
                AmiError::new("autoscaling:DescribeLaunchConfigurations", &self.name, &e)
            })?;
        for config in configs.launch_configurations() {
            let lc = config.launch_configuration_name().unwrap_or("");
            if let Some(image) = config.image_id() {
                for (asg, _) in launch_configs.iter().filter(|(_, n)| n == lc) {
                    usage.add(image, format!("launch configuration {lc} of ASG {asg}"));
                }
            }
        }
        Ok(())
    }

    /// The images of instances that exist (running or not yet terminated).
    async fn instance_usage(&self, usage: &mut Usage) -> Result<(), AmiError> {
        let instances = self
            .ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .values("stopping")
                    .values("stopped")
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AmiError::new("ec2:DescribeInstances", &self.name, &e))?;
        for instance in instances.reservations().iter().flat_map(|r| r.instances()) {
            if let (Some(image), Some(id)) = (instance.image_id(), instance.instance_id()) {
                usage.add(image, format!("instance {id} runs it"));
            }
        }
        Ok(())
    }
}
