--[[ 18_reveal_to_revise.lua: Reveal-to-Revise on artifact MNIST (or Fashion-MNIST), one call.
A bright 4x4 square marks a share of one class's training images (R2R's controlled artifact: share = 0.1 of
class 0); a CNN learns it as a shortcut, so pasting the square on every test image costs accuracy. The loop
explains the class's training images with LRP, finds the artifact's samples with SpRAy (the top-ranked
cluster and those whose extra relevance lies on the same spot, or `annotate=ground_truth`), fits a concept activation vector at `layer` (`cav`: signal, the
default here — the pattern CAV removed the artifact where R2R's SVM CAV did not (docs/results.md) — or svm),
localises the artifact, corrects the model (`corrector`: r_clarc, the default here, p_clarc, a_clarc, rrr, rr_clarc,
grad_cam_pp_penalty) and measures clean and poisoned accuracy, artifact relevance and TCAV after each round
(a table in report.md, heatmaps in report.html).
Run:  .build/release/lucerna run examples/18_reveal_to_revise.lua                       (3 seeds)
      .build/release/lucerna run examples/18_reveal_to_revise.lua --set quick=true      (6,000 images, < 1 min) ]]

local config = lucerna.config{seeds = {1, 2, 3}, dataset = "mnist", share = 0.1, target = 0, epochs = 3,
                              corrector = "r_clarc", annotate = "spray", rounds = 3, layer = "relu1",
                              pooling = "flat", cav = "signal", others = "class", limit = 0, evaluated = 2000,
                              quick = false, tune_epochs = 2, tune_weight = 0, stop = 0.05, test_limit = 0,
                              tune_form = "", tune_objective = ""}
if config.quick then config.limit, config.epochs, config.evaluated, config.test_limit = 6000, 2, 500, 2000 end
lucerna.manual_seed(run.seed)
local loader = data[config.dataset]
local limit = config.limit > 0 and config.limit or nil
local bias = {kind = "artifact", correlation = config.share, fraction = 0, target = config.target, size = 4,
              corner = "bottom_right", seed = run.seed}
local train_set = loader{split = "train", bias = bias, limit = limit}
local test_limit = config.test_limit > 0 and config.test_limit or nil
local clean_test = loader{split = "test", limit = test_limit}
-- The poisoned test set: the square on every test image (fraction 1, independent of the label).
local poisoned_test = loader{split = "test", limit = test_limit,
                             bias = lucerna.merge(bias, {test = "independent", fraction = 1})}

local model = models.cnn{}
train{name = "plain", model = model, data = train_set, validation = 0.2, epochs = config.epochs, batch = 64,
      optimizer = {type = "adamw", lr = 1e-3, weight_decay = 1e-2}, schedule = "cosine"}

local result = reveal_to_revise{
   model = model, data = train_set, test = clean_test, poisoned = poisoned_test, class = config.target,
   layer = config.layer, corrector = config.corrector, annotate = config.annotate, rounds = config.rounds,
   stop = {artifact_relevance = config.stop}, cav = {method = config.cav, pooling = config.pooling},
   evaluated = config.evaluated, others = config.others,
   tune = {epochs = config.tune_epochs, weight = config.tune_weight > 0 and config.tune_weight or nil,
           form = config.tune_form ~= "" and config.tune_form or nil,
           objective = config.tune_objective ~= "" and config.tune_objective or nil},
}
local first, last = result.rounds[1], result.final
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
