# The shipped experiment configs of each dataset, one table for mod2alpha.sh and alpha2w.sh (which source it from the
# repository root): `experiment_configs [SYNTH|SYNTH_val1|AWA2|CUB|CUB_001_050]` sets CONFIGS to that dataset's
# configs (default SYNTH); `experiment_configs path/to/config.json ...` to the given ones.
DIR=arg_configs
experiment_configs() {
  case "${1:-SYNTH}" in
    SYNTH) CONFIGS=("$DIR/small_cnn_config_SYNTH.json" "$DIR/small_cnn_config_SYNTH_captions.json") ;;
    SYNTH_val1) CONFIGS=("$DIR/small_cnn_config_SYNTH_val1.json" "$DIR/small_cnn_config_SYNTH_val1_captions.json") ;;
    AWA2) CONFIGS=("$DIR/vgg16_config_AWA2.json" "$DIR/resnet_config_AWA2.json") ;;
    CUB) CONFIGS=("$DIR/vgg16_config_CUB.json" "$DIR/resnet_config_CUB.json" "$DIR/vgg16_config_CUB_captions.json"
                  "$DIR/resnet_config_CUB_captions.json") ;;
    CUB_001_050) CONFIGS=("$DIR/vgg16_config_CUB_001_050.json" "$DIR/vgg16_config_CUB_001_050_captions.json") ;;
    *) CONFIGS=("$@") ;;
  esac
}
