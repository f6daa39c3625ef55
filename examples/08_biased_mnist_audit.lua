--[[ 08_biased_mnist_audit.lua: a subgroup audit of a CNN trained on MNIST with a controlled spurious artifact.
A bright 4x4 square in the bottom-right corner marks 99 % of the training zeros and a few other digits (20 % of
all training images carry it), so "square => zero" is a shortcut. The test images carry the square either
independently of the digit (20 % of them) or reversed (on non-zeros only). The audit compares the artifact
group (1) with the clean group (0): per-group accuracy, how often each group is predicted "0" (demographic
parity with positive class 0), equalized odds and worst-group accuracy, following Fairlearn's definitions.
Run:  .build/release/lucerna run examples/08_biased_mnist_audit.lua            (3 seeds)
      .build/release/lucerna run examples/08_biased_mnist_audit.lua --seed 1   (one seed) ]]

local config = lucerna.config{seeds = {1, 2, 3}, epochs = 8, batch = 64, patience = 3, limit = 0,
                              correlation = 0.99, fraction = 0.2, model = "cnn"}
lucerna.manual_seed(run.seed)
local bias = {kind = "artifact", correlation = config.correlation, fraction = config.fraction, target = 0, size = 4,
              corner = "bottom_right", seed = run.seed}
local images = data.mnist{split = "train", bias = bias, limit = config.limit > 0 and config.limit or nil}
local independent = data.mnist{split = "test", bias = lucerna.merge(bias, {test = "independent"})}
local reversed = data.mnist{split = "test", bias = lucerna.merge(bias, {test = "reversed"})}
local marked = {}   -- the first 16 training images that carry the artifact (1-based positions)
for position, group in ipairs(images.groups:totable()) do
   if group == 1 and #marked < 16 then marked[#marked + 1] = position end
end
run.image("training_images_with_artifact", images.images:index_select(1, tensor(marked)), {columns = 8, range = {0, 1}})

local model = models[config.model]{}
local result = train{
   model = model, data = images, validation = 0.2, test = independent,
   optimizer = {type = "adamw", lr = 1e-3, weight_decay = 1e-2}, schedule = "cosine",
   epochs = config.epochs, batch = config.batch,
   early_stopping = {metric = "val_f1", patience = config.patience, mode = "max"},
   metrics = {accuracy = "accuracy", f1 = {type = "f1", average = "macro"}},
}

-- The audit: groups are 1 (artifact) and 0 (clean); "selected" means predicted as the artifact's class 0.
local function audit(set, name)
   local values = evaluate{model = model, data = set, name = name, metrics = {
      accuracy = "accuracy",
      worst_group_accuracy = "worst_group_accuracy",
      demographic_parity_difference = {type = "demographic_parity_difference", positive = 0},
      equalized_odds_difference = {type = "equalized_odds_difference", positive = 0},
      confusion = "confusion_matrix"}}
   local groups, selection = {}, {}
   for _, group in ipairs(values.reports.worst_group_accuracy.groups) do groups[group.group] = group end
   for _, group in ipairs(values.reports.demographic_parity_difference.groups) do selection[group.group] = group.selection_rate end
   local clean, marked = groups[0], groups[1]
   run.log{phase = "audit", [name .. "_accuracy_clean"] = clean.accuracy, [name .. "_accuracy_artifact"] = marked.accuracy,
           [name .. "_accuracy_gap"] = clean.accuracy - marked.accuracy,
           [name .. "_predicted_zero_clean"] = selection[0], [name .. "_predicted_zero_artifact"] = selection[1]}
   print(("%-11s accuracy %.4f | clean %.4f (n=%d) vs artifact %.4f (n=%d), gap %.4f | predicted 0: clean %.3f, artifact %.3f | DP gap %.4f, EO gap %.4f"):format(
      name, values.accuracy, clean.accuracy, clean.count, marked.accuracy, marked.count, clean.accuracy - marked.accuracy,
      selection[0], selection[1], values.demographic_parity_difference, values.equalized_odds_difference))
end
audit(independent, "independent")
audit(reversed, "reversed")
