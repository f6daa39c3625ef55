--[[ 18_reveal_to_revise.lua: Reveal-to-Revise on artifact MNIST (or Fashion-MNIST), one call.
A bright 4x4 square marks a share of one class's training images (R2R's controlled artifact: share = 0.1 of
class 0); a CNN learns it as a shortcut, so pasting the square on every test image costs accuracy. The loop
explains the class's training images with LRP, finds the artifact's samples with SpRAy (the top-ranked
cluster and those whose extra relevance lies on the same spot, or `annotate=ground_truth`), fits a concept activation vector at `layer` (`cav`: signal, the
default here — the pattern CAV removed the artifact where R2R's SVM CAV did not (docs/results.md) — or svm),
localises the artifact, corrects the model (`corrector`: r_clarc, the default here, p_clarc, a_clarc, rrr, rr_clarc,
grad_cam_pp_penalty) and measures clean and poisoned accuracy, artifact relevance and TCAV after each round
(a table in report.md, heatmaps in report.html). `dataset=decoy_mnist` runs the loop on Ross et al.'s Decoy
MNIST instead (class `target`'s decoy; the CAV against the same images without their decoys).
Run:  .build/release/lucerna run examples/18_reveal_to_revise.lua                       (3 seeds)
      .build/release/lucerna run examples/18_reveal_to_revise.lua --set quick=true      (6,000 images, < 1 min) ]]

local config = lucerna.config{seeds = {1, 2, 3}, dataset = "mnist", share = 0.1, target = 0, epochs = 3,
                              corrector = "r_clarc", annotate = "spray", rounds = 3, layer = "relu1",
                              pooling = "flat", cav = "signal", others = "class", limit = 0, evaluated = 2000,
                              quick = false, tune_epochs = 2, tune_weight = 0, stop = 0.05, test_limit = 0,
                              tune_form = "", tune_objective = ""}
if config.quick then config.limit, config.epochs, config.evaluated, config.test_limit = 6000, 2, 500, 2000 end
lucerna.manual_seed(run.seed)
local limit = config.limit > 0 and config.limit or nil
local test_limit = config.test_limit > 0 and config.test_limit or nil
local train_set, clean_test, poisoned_test, contrast, plain_test
if config.dataset == "decoy_mnist" then
   -- Ross et al.'s Decoy MNIST: every training image carries its class's decoy (a 4x4 patch of grey level
   -- 255 - 25 * digit in a random corner). The loop works on class `target`'s decoy. No training image is
   -- free of a decoy, so the CAV tells the class's decoyed images from the same images without it
   -- (`contrast`); the test set is Decoy MNIST's (a random decoy level on each image), and the poisoned set
   -- carries class `target`'s decoy level on every test image, in that image's corner.
   train_set = data.decoy_mnist{split = "train", seed = run.seed, limit = limit}
   train_set.groups = train_set.labels:eq(config.target):long()
   local clean_train = data.mnist{split = "train", limit = limit}
   local positions = {}
   for index, label in ipairs(clean_train.labels:totable()) do
      if label == config.target then positions[#positions + 1] = index end
   end
   contrast = {images = clean_train.images:index_select(1, tensor(positions)),
               labels = clean_train.labels:index_select(1, tensor(positions))}
   clean_test = data.decoy_mnist{split = "test", seed = run.seed, limit = test_limit}
   plain_test = data.mnist{split = "test", limit = test_limit}
   local masks = clean_test.artifact_masks
   poisoned_test = {images = plain_test.images * (masks * -1 + 1) + masks * ((255 - 25 * config.target) / 255),
                    labels = plain_test.labels, artifact_masks = masks}
else
   local loader = data[config.dataset]
   local bias = {kind = "artifact", correlation = config.share, fraction = 0, target = config.target, size = 4,
                 corner = "bottom_right", seed = run.seed}
   train_set = loader{split = "train", bias = bias, limit = limit}
   clean_test = loader{split = "test", limit = test_limit}
   -- The poisoned test set: the square on every test image (fraction 1, independent of the label).
   poisoned_test = loader{split = "test", limit = test_limit,
                          bias = lucerna.merge(bias, {test = "independent", fraction = 1})}
end

local model = models.cnn{}
train{name = "plain", model = model, data = train_set, validation = 0.2, epochs = config.epochs, batch = 64,
      optimizer = {type = "adamw", lr = 1e-3, weight_decay = 1e-2}, schedule = "cosine"}

-- Decoy MNIST: the accuracy on test images without any decoy, before and after the loop — the most that
-- removing the decoy at inference can give back.
local undecoyed = plain_test and {before = evaluate{model = model, data = plain_test, name = "undecoyed_before"}.accuracy}
local result = reveal_to_revise{
   model = model, data = train_set, test = clean_test, poisoned = poisoned_test, class = config.target,
   layer = config.layer, corrector = config.corrector, annotate = config.annotate, rounds = config.rounds,
   stop = {artifact_relevance = config.stop}, cav = {method = config.cav, pooling = config.pooling},
   evaluated = config.evaluated, others = config.others, contrast = contrast,
   tune = {epochs = config.tune_epochs, weight = config.tune_weight > 0 and config.tune_weight or nil,
           form = config.tune_form ~= "" and config.tune_form or nil,
           objective = config.tune_objective ~= "" and config.tune_objective or nil},
}
local first, last = result.rounds[1], result.final
if undecoyed then
   undecoyed.after = evaluate{model = model, data = plain_test, name = "undecoyed_after"}.accuracy
   run.log{phase = "undecoyed", accuracy_before = undecoyed.before, accuracy_after = undecoyed.after}
   print(("test images without a decoy: accuracy %.4f -> %.4f"):format(undecoyed.before, undecoyed.after))
end
run.log{phase = "summary", rounds_run = #result.rounds - 1, rounds_kept = last.round, plain_clean_accuracy = first.clean_accuracy,
        plain_poisoned_accuracy = first.poisoned_accuracy, plain_artifact_relevance = first.artifact_relevance,
        final_clean_accuracy = last.clean_accuracy, final_poisoned_accuracy = last.poisoned_accuracy,
        final_artifact_relevance = last.artifact_relevance, artifact_relevance_cut = result.artifact_relevance_cut,
        first_precision = result.rounds[2] and result.rounds[2].annotation_precision,
        first_recall = result.rounds[2] and result.rounds[2].annotation_recall}
print(("%s: clean %.4f -> %.4f, poisoned %.4f -> %.4f, artifact relevance %.4f -> %.4f (cut %.1f %%) in %d round(s)")
   :format(config.corrector, first.clean_accuracy, last.clean_accuracy, first.poisoned_accuracy,
           last.poisoned_accuracy, first.artifact_relevance, last.artifact_relevance,
           100 * (result.artifact_relevance_cut or 0), last.round))
