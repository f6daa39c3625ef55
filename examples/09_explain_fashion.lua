--[[ 09_explain_fashion.lua: explain a Fashion-MNIST CNN with every registered explainer, score the maps
against the garments' object masks, and draw the comparison grid.
Run:  .build/release/lucerna run examples/09_explain_fashion.lua --seed 1 [--set epochs=3 --set samples=500]
The CNN is trained with the protocol (train{}: stratified validation split, AdamW + cosine); then, for the
first `samples` test images and their true classes, each method's maps are compared with the object masks
(pixels with ink above 0.5) by IoU-XAI (top 20 % of pixels), the pointing game, relevance mass and rank
accuracy and the attribution AUC, and for faithfulness by the deletion and insertion AUCs (20 steps, removed
pixels set to 0), and the randomisation sanity check on the first 100 (Spearman correlation with the maps of
the same CNN with randomised weights; near 0 is good). Signed input attributions (Integrated Gradients, occlusion, gradient x
input, LRP relevances) are scored by their absolute value. The grid (images/explanations.png in the report) shows 8 test
images and one row per method; metrics.jsonl gets one record per method. ]]

local config = lucerna.config{epochs = 3, samples = 500, layer = "relu2", limit = 0}
lucerna.manual_seed(run.seed)
local images = data.fashion_mnist{split = "train", limit = config.limit > 0 and config.limit or nil}
local test = data.fashion_mnist{split = "test", masks = true, limit = config.samples}
local model = models.cnn{}
local result = train{model = model, data = images, test = test, epochs = config.epochs, verbose = true}
print(("CNN test accuracy on the %d explained images: %.4f"):format(config.samples, result.test.accuracy))

local methods = {
   {"grad_cam", explainers.grad_cam{layer = config.layer}},
   {"grad_cam_pp", explainers.grad_cam_pp{layer = config.layer}},
   {"xgrad_cam", explainers.xgrad_cam{layer = config.layer}},
   {"layer_cam", explainers.layer_cam{layer = config.layer}},
   {"score_cam", explainers.score_cam{layer = config.layer}},
   {"eigen_cam", explainers.eigen_cam{layer = config.layer}},
   {"saliency", explainers.saliency{}},
   {"gradient_x_input", explainers.gradient_x_input{absolute = true}},
   {"integrated_gradients", explainers.integrated_gradients{steps = 32}},
   {"smoothgrad", explainers.smoothgrad{samples = 16}},
   {"occlusion", explainers.occlusion{window = {1, 4, 4}, strides = {1, 2, 2}}},
   {"lrp_epsilon_plus", explainers.lrp{composite = "epsilon_plus"}},
   {"lrp_epsilon_gamma_box", explainers.lrp{composite = composites.epsilon_gamma_box{low = 0, high = 1}}},
   {"lrp_epsilon_alpha2_beta1", explainers.lrp{composite = "epsilon_alpha2_beta1"}},
}
local scorers = {iou_xai = metrics.iou_xai{fraction = 0.2}, pointing_game = metrics.pointing_game{},
                 relevance_mass = metrics.relevance_mass{}, relevance_rank = metrics.relevance_rank{},
                 attribution_auc = metrics.attribution_auc{}}
local faithfulness = {deletion_auc = metrics.deletion_auc{steps = 20}, insertion_auc = metrics.insertion_auc{steps = 20}}
local shown = test.images:narrow(1, 1, 8)
local rows = {}
print(("%-21s %8s %8s %8s %8s %8s %8s %8s %8s %8s"):format("method", "iou_xai", "pointing", "mass", "rank", "auc",
                                                           "deletion", "insertion", "sanity", "seconds"))
for _, entry in ipairs(methods) do
   local name, explainer = entry[1], entry[2]
   for _, scorer in pairs(scorers) do scorer:reset() end
   for _, scorer in pairs(faithfulness) do scorer:reset() end
   local sanity = metrics.randomization_sanity{explainer = explainer}
   local started = os.clock()
   for start = 1, config.samples, 100 do
      local length = math.min(100, config.samples - start + 1)
      local inputs, labels = test.images:narrow(1, start, length), test.labels:narrow(1, start, length)
      local maps = explainer:explain(model, inputs, labels):abs()   -- signed attributions are scored by magnitude
      for _, scorer in pairs(scorers) do scorer:update(maps, test.masks:narrow(1, start, length)) end
      for _, scorer in pairs(faithfulness) do scorer:update_explanation(model, inputs, maps, labels) end
      if start == 1 then sanity:update_explanation(model, inputs, maps, labels) end   -- the first 100 images
   end
   local seconds = os.clock() - started   -- CPU seconds (both threads), explaining and scoring
   local record = {phase = "explanation", method = name, seconds = seconds}
   for key, scorer in pairs(scorers) do record[name .. "_" .. key] = scorer:compute() end
   for key, scorer in pairs(faithfulness) do record[name .. "_" .. key] = scorer:compute() end
   record[name .. "_randomization_sanity"] = sanity:compute()
   run.log(record)
   print(("%-21s %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.1f"):format(name, record[name .. "_iou_xai"],
      record[name .. "_pointing_game"], record[name .. "_relevance_mass"], record[name .. "_relevance_rank"],
      record[name .. "_attribution_auc"], record[name .. "_deletion_auc"], record[name .. "_insertion_auc"],
      record[name .. "_randomization_sanity"], seconds))
   rows[#rows + 1] = {name, explainer:explain(model, shown, test.labels:narrow(1, 1, 8)):abs()}
end
run.overlay("explanations", shown, rows, {colormap = "inferno", alpha = 0.6})
run.overlay("object_masks", shown, {{"mask", test.masks:narrow(1, 1, 8)}}, {colormap = "viridis", alpha = 0.5})
