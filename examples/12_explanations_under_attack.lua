--[[ 12_explanations_under_attack.lua: how Grad-CAM++ explanations of the Fashion-MNIST CNNs of
11_fashion_robustness.lua change under attack. For each trained model (standard, PGD-AT, TRADES) it attacks the
first `limit` test images with PGD-20 (eps `eps`, L-inf, step 0.01, random start) and compares the Grad-CAM++
maps (layer relu2, upsampled to 28x28) of each clean image and its adversarial copy, both for the true class:
the IoU of their top-20 % pixels and Spearman's rank correlation (Ghorbani et al. 2019), over all images and over
those the attack fools; the report shows clean and adversarial maps side by side.
Run after a 3-seed run of 11 (it reads <from>/seed-N/checkpoints/<method>-best.safetensors):
      .build/release/lucerna run examples/12_explanations_under_attack.lua --seeds 1,2,3 --set from=runs/11_fashion_robustness-<time>
A single-seed run folder of 11 works with --set from=<that folder> --seed N (no seed-N/ level: --set nested=false).
The CNN's widths are read from each checkpoint, so runs of 11 with other `conv1`, `conv2`, `hidden` work as they are. ]]

local config = lucerna.config{from = "", nested = true, methods = "standard,pgd_at,trades", limit = 500, eps = 0.1, top = 0.2}
assert(config.from ~= "", "give --set from=<a run folder of examples/11_fashion_robustness.lua>")
lucerna.manual_seed(run.seed)
local test = data.fashion_mnist{split = "test", limit = config.limit}
local images, labels = test.images, test.labels
local explainer = explainers.grad_cam_pp{layer = "relu2"}
local pgd = attacks.pgd{eps = config.eps, alpha = 0.01, steps = 20, random_start = true}
local folder = config.nested and (config.from .. "/seed-" .. run.seed) or config.from

-- The benchmark CNN of a checkpoint of 11, its widths taken from the checkpoint's weights.
local function trained_cnn(path)
   local tensors = lucerna.load_tensors(path)
   local conv1, conv2, fc1 = tensors["model.conv1.weight"], tensors["model.conv2.weight"], tensors["model.fc1.weight"]
   assert(conv1 and conv2 and fc1, path .. " is not a checkpoint of models.cnn (no model.conv1/conv2/fc1 weights)")
   local model = models.cnn{channels = {conv1:shape()[1], conv2:shape()[1]}, hidden = fc1:shape()[1]}
   model:load(path)
   return model
end

local function mean_over(values, mask)
   local count = mask:sum():item()
   return count > 0 and (values * mask):sum():item() / count or 0 / 0
end

print(("%-9s %8s %10s %12s %10s %14s"):format("method", "fooled", "IoU (all)", "IoU (fooled)", "rho (all)", "rho (fooled)"))
local rows, shown = {}, images:narrow(1, 1, 8)
for method in config.methods:gmatch("[^,]+") do
   local model = trained_cnn(folder .. "/checkpoints/" .. method .. "-best.safetensors")
   model:eval()
   local adversarial = pgd:perturb(model, images, labels)
   local clean_predictions = model(images):argmax(2) - 1
   local adversarial_predictions = model(adversarial):argmax(2) - 1
   local truth = labels:float()
   local fooled = clean_predictions:eq(truth):float() * (1 - adversarial_predictions:eq(truth):float())
   local clean_maps = explainer:explain(model, images, labels)
   local adversarial_maps = explainer:explain(model, adversarial, labels)
   local shift = lucerna.explanation_shift(clean_maps, adversarial_maps, {top = config.top})
   local record = {phase = "explanation_shift", method = method, eps = config.eps, samples = labels:numel(),
                   [method .. "_fooled"] = fooled:mean():item(),
                   [method .. "_iou"] = shift.iou:mean():item(), [method .. "_iou_fooled"] = mean_over(shift.iou:float(), fooled),
                   [method .. "_rank_correlation"] = shift.rank_correlation:mean():item(),
                   [method .. "_rank_correlation_fooled"] = mean_over(shift.rank_correlation:float(), fooled)}
   run.log(record)
   print(("%-9s %8.4f %10.4f %12.4f %10.4f %14.4f"):format(method, record[method .. "_fooled"], record[method .. "_iou"],
      record[method .. "_iou_fooled"], record[method .. "_rank_correlation"], record[method .. "_rank_correlation_fooled"]))
   rows[#rows + 1] = {method .. " clean", clean_maps:narrow(1, 1, 8)}
   rows[#rows + 1] = {method .. " PGD-20", adversarial_maps:narrow(1, 1, 8)}
   run.image(method .. "_adversarial_examples", adversarial:narrow(1, 1, 8), {columns = 8, range = {0, 1}})
end
run.overlay("gradcampp_clean_vs_adversarial", shown, rows, {colormap = "inferno", alpha = 0.6})
