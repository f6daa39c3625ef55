--[[ 02_fashion_cnn.lua: the benchmark CNN on Fashion-MNIST with the paper's protocol; the README's main job.
Run:  .build/release/lucerna run examples/02_fashion_cnn.lua                 (3 seeds, summary.json + report.md)
      .build/release/lucerna run examples/02_fashion_cnn.lua --seed 1        (one seed)
      --set dataset=mnist trains on MNIST instead; --set model=mlp trains the MLP 784-256-128-10;
      --set epochs=2 --set limit=6000 for a quick look.
Protocol: the official training images split stratified 80/20 into train and validation (by the run's seed),
AdamW (lr 1e-3, weight decay 1e-2) with cosine annealing over the epochs, mini-batches of 64, early stopping
on validation macro F1 (patience 4) with the best epoch restored, then one evaluation on the official test set.
Each seed's folder holds metrics.jsonl (one line per epoch, then the test line), checkpoints/train-last and
train-best.safetensors (resumable with `lucerna run --resume RUN_DIR`) and report.md; the run folder holds
summary.json and report.md with mean ± std over the seeds. ]]

local config = lucerna.config{
   seeds = {1, 2, 3},
   epochs = 15, batch = 64, patience = 4, limit = 0,   -- limit > 0 trains on the first `limit` images only
   optimizer = {type = "adamw", lr = 1e-3, weight_decay = 1e-2},
   model = "cnn", dataset = "fashion_mnist",
}
lucerna.manual_seed(run.seed)

local images = data[config.dataset]{split = "train", limit = config.limit > 0 and config.limit or nil}
local test = data[config.dataset]{split = "test"}
local model = models[config.model]{}
print(("%s on %s: %d training images before the validation split"):format(tostring(model), config.dataset, images.labels:numel()))

local result = train{
   model = model, data = images, validation = 0.2, test = test,
   optimizer = config.optimizer, schedule = "cosine",
   epochs = config.epochs, batch = config.batch,
   early_stopping = {metric = "val_f1", patience = config.patience, mode = "max"},
   metrics = {accuracy = "accuracy", f1 = {type = "f1", average = "macro"},
              confusion = "confusion_matrix", ece = "ece"},
}
run.save("final", model)
print(("test accuracy %.4f, macro F1 %.4f (best epoch %d of %d run)"):format(
   result.test.accuracy, result.test.f1, result.best_epoch, result.epochs_run))
