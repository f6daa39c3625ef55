--[[ iou_xai_ceiling.lua: the IoU-XAI that a map confined to the object could reach if it lived on a coarser grid.
Each test image's object mask (`source = "mask"`), or the image itself (`source = "image"`), is used as the map:
at 28x28, and average-pooled to 14x14 (the `relu2` blocks where Grad-CAM++ is taken) or 7x7 and resized
bilinearly to 28x28 as the CAM explainers resize; then scored by metrics.iou_xai under the rule `threshold`
("top_k" with `fraction`, or the CAM/Grad-CAM "box" rule at `relative` of the maximum). docs/results.md quotes
its output.
Run:  .build/release/lucerna run scripts/probes/iou_xai_ceiling.lua --threads 1
        (Fashion-MNIST's garment masks, top 20 %)
      .build/release/lucerna run scripts/probes/iou_xai_ceiling.lua --threads 1 --set dataset=mnist --set threshold=box
        (MNIST digits' pixels above 0.1, the mask of examples/paper/model.lua's IoU-XAI, under the box rule) ]]

local config = lucerna.config{samples = 2000, dataset = "fashion_mnist", source = "mask", threshold = "top_k",
                              fraction = 0.2, relative = 0.15}
assert(config.dataset == "fashion_mnist" or config.dataset == "mnist",
       "dataset must be fashion_mnist or mnist, got " .. tostring(config.dataset))
assert(config.source == "mask" or config.source == "image", "source must be mask or image, got " .. tostring(config.source))
local test = config.dataset == "mnist" and data.mnist{split = "test", limit = config.samples}
             or data.fashion_mnist{split = "test", masks = true, limit = config.samples}
local count = test.labels:numel()
-- MNIST has no masks: the digit's pixels above 0.1, as the paper model's recipe defines its object masks.
local object = test.masks or test.images:reshape{count, 28, 28}:gt(0.1)
local maps = config.source == "mask" and object:float():reshape{count, 1, 28, 28} or test.images:reshape{count, 1, 28, 28}
for _, grid in ipairs({28, 14, 7}) do
   local pooled = grid == 28 and maps or maps:adaptive_avg_pool2d({grid, grid})
   local iou = metrics.iou_xai{threshold = config.threshold, fraction = config.fraction, relative = config.relative}
   iou:update(pooled:upsample({28, 28}, "bilinear"):reshape{count, 28, 28}, object)
   local value = iou:compute()
   run.log{phase = "ceiling", grid = grid, samples = count, iou_xai = value}
   print(("grid %dx%d: IoU-XAI (%s) of the %s as the map %.4f"):format(grid, grid, config.threshold, config.source, value))
end
print(("the masks cover %.4f of the image"):format(object:float():mean():item()))
