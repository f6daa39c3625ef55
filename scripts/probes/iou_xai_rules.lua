--[[ iou_xai_rules.lua: one CNN's Grad-CAM++ IoU-XAI on MNIST test digits under each recorded rule — the top 20 %
of pixels, Otsu's threshold, and the box rule of CAM and Grad-CAM at 15, 30 and 50 % of the map's maximum —
against the digit's pixels above 0.1. docs/guide/explanations.md quotes its output. The CNN is a trained
checkpoint (`--set source=RUN/checkpoints/auditor-best.safetensors`, e.g. examples/19's auditor) or, without
one, models.cnn{} trained here with the paper's protocol for `epochs` epochs.
Run:  .build/release/lucerna run scripts/probes/iou_xai_rules.lua --threads 1 ]]

local config = lucerna.config{source = "", epochs = 5, count = 2000, layer = "relu2"}
lucerna.manual_seed(1)
local test_set = data.mnist{split = "test", limit = config.count}
local model = models.cnn{}
if config.source ~= "" then
   model:load(config.source)
else
   train{model = model, data = data.mnist{split = "train"}, epochs = config.epochs, validation = 0.2}
end
local explainer = explainers.grad_cam_pp{layer = config.layer}
local rules = {top20 = {fraction = 0.2}, otsu = {threshold = "otsu"}, box15 = {threshold = "box"},
               box30 = {threshold = "box", relative = 0.3}, box50 = {threshold = "box", relative = 0.5}}
local scores = {}
for name, options in pairs(rules) do scores[name] = metrics.iou_xai(options) end
for start = 1, config.count, 500 do
   local length = math.min(500, config.count - start + 1)
   local images = test_set.images:narrow(1, start, length)
   local maps = explainer:explain(model, images, test_set.labels:narrow(1, start, length))
   for _, metric in pairs(scores) do metric:update(maps, images:gt(0.1)) end
end
local record = {phase = "probe"}
for name, metric in pairs(scores) do record[name] = metric:compute() end
run.log(record)
for _, name in ipairs({"top20", "otsu", "box15", "box30", "box50"}) do print(name, record[name]) end
