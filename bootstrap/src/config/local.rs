//! The layers known before any AWS call: the baked file and `--config FILE`. The config
//! parameter's layer, read at boot, goes between them.

use std::path::{Path, PathBuf};

use super::{defaults, read_layer, BootConfigLayer, ConfigError};

/// Overrides the baked config's path (tests, unusual images).
pub const BAKED_CONFIG_ENV: &str = "IMAGEKIT_BAKED_CONFIG";

#[derive(Debug, Clone, Default)]
pub struct LocalLayers {
    pub baked: BootConfigLayer,
    pub file: BootConfigLayer,
}

impl LocalLayers {
    /// Reads the baked config (absent is fine) and `--config FILE` (must exist);
    /// `--config-parameter` wins over both for `config_parameter`.
    pub fn load(
        config_file: Option<&Path>,
        config_parameter: Option<String>,
    ) -> Result<LocalLayers, ConfigError> {
        let baked_path = std::env::var_os(BAKED_CONFIG_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(defaults::baked_config_path()));
        let baked = read_layer(&baked_path, true)?;
        let mut file = match config_file {
            Some(path) => read_layer(path, false)?,
            None => BootConfigLayer::default(),
        };
        if config_parameter.is_some() {
            file.config_parameter = config_parameter;
        }
        Ok(LocalLayers { baked, file })
    }

    /// Baked, then file.
    pub fn merged(&self) -> BootConfigLayer {
        self.baked.clone().merge(self.file.clone())
    }

    /// Every layer: baked, then the parameter's (if any), then file.
    pub fn with_parameter(&self, parameter: Option<BootConfigLayer>) -> BootConfigLayer {
        let mut layer = self.baked.clone();
        if let Some(p) = parameter {
            layer = layer.merge(p);
        }
        layer.merge(self.file.clone())
    }
}
