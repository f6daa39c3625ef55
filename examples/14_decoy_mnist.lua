--[[ 14_decoy_mnist.lua: Right for the Right Reasons on Ross et al.'s Decoy MNIST.
Every training image carries a 4x4 corner patch whose grey level encodes its digit (a perfect shortcut); at
test the patch's level is random. A plain MLP learns the patch and fails at test; `rrr` penalizes the input
gradient on the patch (its mask, artifact_masks) and makes the model read the digit. The decoy share of the
saliency (|input gradient|) on the test images measures how much the model still looks at the patch; with
model=cnn (the benchmark CNN) the method grad_cam_pp_penalty penalizes the Grad-CAM++ map's share on the patch
instead (gradients of gradients through the network; `cam_layer` picks the layer, relu2 at 14x14 by default,
relu1 at 28x28), and the Grad-CAM++ share (at relu2) is measured too. method=rr_clarc
follows Reveal-to-Revise: plain training for `plain_epochs`, the patch's concept vector at `concept_layer`
(the pattern CAV of pairs of training images with and without their patch: the mean difference of the
layer's activations, unit length), then fine-tuning for `epochs` with RR-ClArC (weight `clarc_weight`).
Published (Ross et al. 2017, MLP 50-30, Adam 1e-3): plain 51.6 % test, RRR (lambda 1000) 96.1 %.
Run:  .build/release/lucerna run examples/14_decoy_mnist.lua --set method=rrr        (3 seeds)
      .build/release/lucerna run examples/14_decoy_mnist.lua --set method=plain --seed 1
      .build/release/lucerna run examples/14_decoy_mnist.lua --set model=cnn --set method=grad_cam_pp_penalty
      .build/release/lucerna run examples/14_decoy_mnist.lua --set model=cnn --set method=rr_clarc ]]

local config = lucerna.config{seeds = {1, 2, 3}, method = "rrr", model = "mlp", epochs = 64, batch = 256, lr = 1e-3,
                              weight = 1000, cam_weight = 1, limit = 0, patience = 0, explained = 2000,
                              clarc_weight = 1, plain_epochs = 8, concept_layer = "", concept_samples = 2000,
                              cam_layer = ""}
lucerna.manual_seed(run.seed)
local limit = config.limit > 0 and config.limit or nil
local train_set = data.decoy_mnist{split = "train", seed = run.seed, limit = limit}
local test_set = data.decoy_mnist{split = "test", seed = run.seed, limit = limit}

local penalties = {
   plain = {},
   rrr = {{type = "rrr", weight = config.weight}},   -- Ross et al.: sum_k log p_k, squared, masked
   -- CNN: the layer of the explainers' default (relu2, 14x14) unless cam_layer names another (relu1: 28x28)
   grad_cam_pp_penalty = {{type = "grad_cam_pp_penalty", weight = config.cam_weight,
                           layer = config.cam_layer ~= "" and config.cam_layer or nil}},
   rr_clarc = {},   -- filled in below, once the concept vector is known
}
assert(penalties[config.method], "method must be plain, rrr, grad_cam_pp_penalty or rr_clarc")
assert(config.model == "mlp" or config.model == "cnn", "model must be mlp or cnn")
local model = config.model == "cnn" and models.cnn{} or models.mlp{in_features = 784, hidden = {50, 30}, classes = 10}
local function forward(batch)
   return config.model == "cnn" and model(batch.images) or model(batch.images:flatten(2))
end
local function fit(name, epochs, regularizers)
   return train{
      name = name, model = model, data = train_set, validation = 0.2, test = test_set, forward = forward,
      optimizer = {type = "adamw", lr = config.lr, weight_decay = 1e-2}, schedule = "cosine",
      epochs = epochs, batch = config.batch, regularizers = regularizers,
      early_stopping = config.patience > 0 and {metric = "val_accuracy", patience = config.patience} or nil,
   }
end

if config.method == "rr_clarc" then
   -- Reveal-to-Revise: the plain model first, then the patch's direction in its activations.
   local plain = fit("plain", config.plain_epochs, {})
   local layer = config.concept_layer ~= "" and config.concept_layer or (config.model == "cnn" and "relu2" or "fc2")
   local count = math.min(config.concept_samples, train_set.labels:numel())
   local patched = train_set.images:narrow(1, 1, count)
   local clean = patched * (1 - train_set.artifact_masks:narrow(1, 1, count))
   local function activations(images)
      return no_grad(function()
         return model:activations(config.model == "cnn" and images or images:flatten(2), layer)
      end)
   end
   local concept = (activations(patched) - activations(clean)):mean(1):flatten(1)
   concept = concept / concept:square():sum():sqrt()
   penalties.rr_clarc = {{type = "rr_clarc", weight = config.clarc_weight, layer = layer, concept = concept}}
   run.log{phase = "concept", layer = layer, samples = count, plain_test_accuracy = plain.test.accuracy}
end
local result = fit("train", config.epochs, penalties[config.method])

-- How much of the saliency falls on the decoy patch (16 of 784 pixels: 2 % if spread evenly).
local explained = {saliency = explainers.saliency{}}
if config.model == "cnn" then explained.grad_cam_pp = explainers.grad_cam_pp{} end
local network = config.model == "cnn" and model or nn.Sequential{nn.Flatten(), model}
local record = {phase = "explanation", method = config.method, model = config.model}
local count = math.min(config.explained, test_set.labels:numel())
for name, explainer in pairs(explained) do
   local mass = metrics.relevance_mass{absolute = true}
   for start = 1, count, 500 do
      local length = math.min(500, count - start + 1)
      local inputs = test_set.images:narrow(1, start, length)
      mass:update(explainer:explain(network, inputs, test_set.labels:narrow(1, start, length)),
                  test_set.artifact_masks:narrow(1, start, length))
   end
   record["decoy_" .. name .. "_share"] = mass:compute()
end
run.log(record)
print(("%s %s: test accuracy %.4f, decoy share of the saliency %.4f%s"):format(config.model, config.method,
   result.test.accuracy, record.decoy_saliency_share,
   record.decoy_grad_cam_pp_share and (", of Grad-CAM++ %.4f"):format(record.decoy_grad_cam_pp_share) or ""))
