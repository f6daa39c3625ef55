#!/usr/bin/env bash
# Downloads Lucerna's data sets from their public homes into DIR (default ./data, or $LUCERNA_DATA) and
# verifies them: the same files as ../shared/data (see its README). Needs curl, unzip, sha256sum, gzip.
#
#   bash scripts/fetch-data.sh [DIR]
#
# MNIST: the original IDX files (their decompressed sha256 is checked; the project copy was gzipped again
# with `gzip -n -9`, so the .gz bytes may differ while the data is identical). FSDD, Davidson et al. and
# the Conversation AI files: pinned commits, checked file by file. Fashion-MNIST comes from Debian's
# dataset-fashion-mnist package (scripts/setup.sh installs it).
set -euo pipefail
DIR="${1:-${LUCERNA_DATA:-data}}"
mkdir -p "$DIR/mnist" "$DIR/fsdd" "$DIR/toxic"
cd "$DIR"
fetch() {   # url destination
    if [ ! -s "$2" ]; then echo "downloading $2"; curl -fL --retry 3 -o "$2.part" "$1" && mv "$2.part" "$2"; fi
}
check() {   # sha256 file
    echo "$1  $2" | sha256sum -c --quiet - || { echo "checksum mismatch for $2" >&2; exit 1; }
}

# MNIST (LeCun, Cortes, Burges).
MNIST=https://storage.googleapis.com/cvdf-datasets/mnist
declare -A MNIST_SHA=(
    [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
    [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
    [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
    [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
for name in "${!MNIST_SHA[@]}"; do
    fetch "$MNIST/$name.gz" "mnist/$name.gz"
    echo "${MNIST_SHA[$name]}  -" > /tmp/lucerna-mnist.sha
    gzip -dc "mnist/$name.gz" | sha256sum -c --quiet /tmp/lucerna-mnist.sha || { echo "MNIST $name differs from the original" >&2; exit 1; }
done

# Free Spoken Digit Dataset (Jackson et al.), pinned commit.
FSDD_COMMIT=26eb9aaf76e81b692f806f9140c2d2777410d7a1
if [ ! -d fsdd/recordings ] || [ "$(ls fsdd/recordings | wc -l)" -ne 3000 ]; then
    fetch "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/$FSDD_COMMIT.zip" fsdd/fsdd.zip
    unzip -q -o fsdd/fsdd.zip "free-spoken-digit-dataset-$FSDD_COMMIT/recordings/*" -d fsdd/
    rm -rf fsdd/recordings && mv "fsdd/free-spoken-digit-dataset-$FSDD_COMMIT/recordings" fsdd/recordings
    rm -rf "fsdd/free-spoken-digit-dataset-$FSDD_COMMIT" fsdd/fsdd.zip
fi
(cd fsdd && sha256sum recordings/*.wav | LC_ALL=C sort -k2 > recordings.sha256)
check 04e1baae96c6a26e39c623f2b01d0182ddae627ba0ac02a3cdc17ba2af99fd9b fsdd/recordings.sha256
cat > fsdd/speakers.csv <<'CSV'
speaker,gender,accent,language
george,male,GRC/Greek,english
jackson,male,USA/neutral,english
lucas,male,DEU/German,english
nicolas,male,BEL/French,english
theo,male,USA/neutral,english
yweweler,male,DEU/German,english
CSV
check 63727d1e2c34b20c7bee91880fda3350c99cc74118221d68154ba0682bda95f8 fsdd/speakers.csv

# Davidson et al. (ICWSM 2017) and Conversation AI (Dixon et al., AIES 2018), pinned commits.
DAVIDSON=https://raw.githubusercontent.com/t-davidson/hate-speech-and-offensive-language/cb50f7e9eb855a99abc51423bf40df0e26d6fe30
BIAS=https://raw.githubusercontent.com/conversationai/unintended-ml-bias-analysis/9c7d91aaa53406a362354661a93e07956d95e59a/archive/unintended_ml_bias
fetch "$DAVIDSON/data/labeled_data.csv" toxic/davidson_labeled_data.csv
fetch "$BIAS/eval_datasets/bias_madlibs_77k.csv" toxic/bias_madlibs_77k.csv
fetch "$BIAS/eval_datasets/toxicity_nonfuzzed_testset.csv" toxic/toxicity_nonfuzzed_testset.csv
fetch "$BIAS/bias_madlibs_data/adjectives_people.txt" toxic/bias_madlibs_identity_terms.txt
check fcb8bc7c68120ae4af04a5b9acd58585513ede11e1548ebf36a5c2040b6f6281 toxic/davidson_labeled_data.csv
check aac542254cf158415ec74623d54fa76176f26a7e7d8ef20788e1748a05ba5b4c toxic/bias_madlibs_77k.csv
check c11caefa0c487cb7a7fc0726cb53358d4e5463bd071d65979398af59fa80f881 toxic/toxicity_nonfuzzed_testset.csv
check 5d999b7488ada99a0bb41715cc7c7c2627927319775f041d4a2d447496411eb8 toxic/bias_madlibs_identity_terms.txt
echo "data ready in $(pwd); use --data $(pwd) or export LUCERNA_DATA=$(pwd)"
