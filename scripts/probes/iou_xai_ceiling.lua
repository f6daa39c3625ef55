--[[ iou_xai_ceiling.lua: the IoU-XAI (top 20 %) that a map confined to the garment could reach on
Fashion-MNIST if it lived on a coarser grid. Each test image's object mask is used as the map itself, at
28x28, and average-pooled to 14x14 (relu2 of the benchmark CNN, where Grad-CAM++ is taken) or 7x7 and
resized bilinearly to 28x28 as the CAM explainers resize. docs/results.md quotes its output.
Run:  .build/release/lucerna run scripts/probes/iou_xai_ceiling.lua --threads 1 ]]

local config = lucerna.config{samples = 2000, fraction = 0.2}
local test = data.fashion_mnist{split = "test", masks = true, limit = config.samples}
local count = test.labels:numel()
local masks = test.masks:float():reshape{count, 1, 28, 28}
for _, grid in ipairs({28, 14, 7}) do
   local pooled = grid == 28 and masks or masks:adaptive_avg_pool2d({grid, grid})
   local iou = metrics.iou_xai{fraction = config.fraction}
   iou:update(pooled:upsample({28, 28}, "bilinear"):reshape{count, 28, 28}, test.masks)
   local value = iou:compute()
   run.log{phase = "ceiling", grid = grid, samples = count, iou_xai = value}
   print(("grid %dx%d: IoU-XAI of the mask as the map %.4f"):format(grid, grid, value))
end
print(("the masks cover %.4f of the image"):format(masks:mean():item()))
