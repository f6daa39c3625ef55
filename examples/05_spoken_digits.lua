--[[ 05_spoken_digits.lua: spoken digits (FSDD) as log-mel spectrograms, a small CNN, the official split.
Run:  .build/release/lucerna run examples/05_spoken_digits.lua [--set test_speaker=theo]
test_speaker holds one speaker out instead (a speaker-disjoint split, much harder). ]]

local config = lucerna.config{epochs = 15, batch = 32, lr = 2e-3, test_speaker = "", seed = 0,
                              features = {n_fft = 256, hop = 128, mels = 40, frames = 32}}
lucerna.manual_seed(config.seed ~= 0 and config.seed or run.seed)   -- seed 0: the run's (--seed, --seeds)
local speaker = config.test_speaker ~= "" and config.test_speaker or nil
local train = data.spoken_digits(lucerna.merge(config.features, {split = "train", test_speaker = speaker}))
local test = data.spoken_digits(lucerna.merge(config.features, {split = "test", test_speaker = speaker}))
print(("%d training and %d test recordings, spectrograms %s"):format(
   train.labels:numel(), test.labels:numel(), table.concat(train.spectrograms:shape(), "x")))

-- Standardise with the training set's statistics.
local mean, std = train.spectrograms:mean():item(), train.spectrograms:var():sqrt():item()
train.spectrograms = (train.spectrograms - mean) / std
test.spectrograms = (test.spectrograms - mean) / std

local model = models.cnn{image_size = 32, channels = {16, 32}, hidden = 64}   -- 40 mels are cropped below
local function inputs(batch) return batch.spectrograms:narrow(3, 5, 32) end      -- mel bands 5..36: 32 x 32
local opt = optim.adamw{params = model, lr = config.lr}
local schedule = schedules.cosine{optimizer = opt, t_max = config.epochs}
local accuracy = metrics.accuracy{}

for epoch = 1, config.epochs do
   local total, count = 0, 0
   for batch in data.loader{train, batch = config.batch, shuffle = true} do
      opt:zero_grad()
      local loss = losses.cross_entropy(model(inputs(batch)), batch.labels)
      loss:backward()
      opt:step()
      total, count = total + loss:item(), count + 1
   end
   schedule:step()
   model:eval()
   accuracy:reset()
   no_grad(function() accuracy:update(model(inputs(test)), test.labels) end)
   model:train()
   run.log{epoch = epoch, train_loss = total / count, test_accuracy = accuracy:compute()}
   print(("epoch %2d  loss %.4f  test_acc %.4f"):format(epoch, total / count, accuracy:compute()))
end
run.save("final", model)
