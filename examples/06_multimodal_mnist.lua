--[[ 06_multimodal_mnist.lua: handwritten digit + spoken digit, two encoders, a registered fusion.
Run:  .build/release/lucerna run examples/06_multimodal_mnist.lua [--set fusion=gated --set image_noise=0.5]
Each MNIST image is paired (seeded) with a recording of the same digit; degrading one modality shows how
much the fusion leans on the other. ]]

local config = lucerna.config{fusion = "concat", epochs = 3, batch = 64, limit = 12000, seed = 0,
                              image_noise = 0.0, occlusion = 0, audio_noise = 0.0, dim = 64}
lucerna.manual_seed(config.seed ~= 0 and config.seed or run.seed)   -- seed 0: the run's (--seed, --seeds)
local options = {limit = config.limit, seed = config.seed, image_noise = config.image_noise,
                 occlusion = config.occlusion, audio_noise = config.audio_noise}
local train = data.multimodal_mnist(lucerna.merge(options, {split = "train"}))
local test = data.multimodal_mnist(lucerna.merge(options, {split = "test", limit = 2000}))
local mean, std = train.spectrograms:mean():item(), train.spectrograms:var():sqrt():item()

local image_encoder = nn.Sequential{nn.Conv2d(1, 16, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
                                    nn.Flatten(), nn.Linear(16 * 14 * 14, config.dim), nn.ReLU()}
local audio_encoder = nn.Sequential{nn.Conv2d(1, 16, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
                                    nn.Flatten(), nn.Linear(16 * 20 * 16, config.dim), nn.ReLU()}
local fusion = fusions{type = config.fusion, input_dims = {config.dim, config.dim}, dim = config.dim}
local head = nn.Linear(fusion{tensor.zeros{1, config.dim}, tensor.zeros{1, config.dim}}:shape()[2], 10)

local params = {}
for _, module in ipairs{image_encoder, audio_encoder, fusion, head} do
   for _, p in ipairs(module:parameters()) do params[#params + 1] = p end
end
local opt = optim.adamw{params = params, lr = 1e-3}
local function forward(batch)
   local audio = (batch.spectrograms - mean) / std
   return head(fusion{image_encoder(batch.images), audio_encoder(audio)})
end

local accuracy = metrics.accuracy{}
for epoch = 1, config.epochs do
   local total, count = 0, 0
   for batch in data.loader{train, batch = config.batch, shuffle = true, drop_last = true} do
      opt:zero_grad()
      local loss = losses.cross_entropy(forward(batch), batch.labels)
      loss:backward()
      opt:step()
      total, count = total + loss:item(), count + 1
   end
   accuracy:reset()
   no_grad(function()
      for batch in data.loader{test, batch = 500} do accuracy:update(forward(batch), batch.labels) end
   end)
   run.log{epoch = epoch, train_loss = total / count, test_accuracy = accuracy:compute()}
   print(("epoch %d  loss %.4f  test_acc %.4f  (fusion %s)"):format(epoch, total / count, accuracy:compute(), config.fusion))
end
