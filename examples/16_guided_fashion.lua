--[[ 16_guided_fashion.lua: explanation-guided training on Fashion-MNIST.
The benchmark CNN's Grad-CAM++ maps (layer relu2) point at the background around the garments as much as at
the garments (IoU-XAI about 0.15 against the object masks, examples/09). method=grad_cam_pp_penalty adds
a penalty on each training image's Grad-CAM++ map (for its label) against the garment's object mask (pixels
with ink above 0.5), differentiated through the network (gradients of gradients), so the model learns to
explain with the garment; method=plain trains the same CNN without it. form=dice (the
default, weight 0.3) asks the map to cover the garment as well: weight × (1 − soft Dice of the map, scaled by
its maximum, with the object mask); form=share (weight 1 in docs/results.md) penalises only the share of the
map's mass off it. Protocol: stratified 20 % validation, AdamW 1e-3 with weight decay 1e-2 and cosine annealing, batches of 64, early stopping on
validation accuracy (the best epoch restored). Measured on the first `samples` test images: IoU-XAI (top
20 % of the map against the object mask) of Grad-CAM++ for the true class, and test accuracy.
Run:  .build/release/lucerna run examples/16_guided_fashion.lua --set method=grad_cam_pp_penalty   (3 seeds)
      .build/release/lucerna run examples/16_guided_fashion.lua --set method=plain ]]

local config = lucerna.config{seeds = {1, 2, 3}, method = "grad_cam_pp_penalty", epochs = 15, weight = 0.3,
                              form = "dice", patience = 4, samples = 2000, limit = 0}
lucerna.manual_seed(run.seed)
local limit = config.limit > 0 and config.limit or nil
local train_set = data.fashion_mnist{split = "train", masks = true, limit = limit}
local test_set = data.fashion_mnist{split = "test", masks = true, limit = limit}
local penalties = {
   plain = {},
   grad_cam_pp_penalty = {{type = "grad_cam_pp_penalty", weight = config.weight, layer = "relu2", mask = "masks",
                           invert = true, form = config.form}},
}
assert(penalties[config.method], "method must be plain or grad_cam_pp_penalty")
local model = models.cnn{}
local result = train{
   model = model, data = train_set, validation = 0.2, test = test_set, epochs = config.epochs, batch = 64,
   regularizers = penalties[config.method],
   early_stopping = {metric = "val_accuracy", patience = config.patience, mode = "max"},
}

local explainer = explainers.grad_cam_pp{layer = "relu2"}
local iou = metrics.iou_xai{fraction = 0.2}
local count = math.min(config.samples, test_set.labels:numel())
for start = 1, count, 500 do
   local length = math.min(500, count - start + 1)
   iou:update(explainer:explain(model, test_set.images:narrow(1, start, length), test_set.labels:narrow(1, start, length)),
              test_set.masks:narrow(1, start, length))
end
local record = {phase = "explanation", method = config.method, samples = count, grad_cam_pp_iou_xai = iou:compute()}
run.log(record)
print(("%s: test accuracy %.4f, Grad-CAM++ IoU-XAI (top 20 %%) %.4f on %d test images"):format(config.method,
   result.test.accuracy, record.grad_cam_pp_iou_xai, count))
