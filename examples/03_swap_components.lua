--[[ 03_swap_components.lua: swap a fusion, a regularizer or a metric by editing one name.
Two "modalities" are two halves of the features of Gaussian blobs (the `blobs` dataset plugin); each goes
through its own encoder, a registered fusion joins them, and a registered regularizer is added to the loss.
Run:  .build/release/lucerna run examples/03_swap_components.lua --set fusion=gated --set regularizer=l1
Try:  fusion = concat | sum | gated; regularizer = l2 | l1 | orthogonality; metric = accuracy | balanced_accuracy ]]

local config = lucerna.config{
   fusion = "concat", regularizer = "l2", metric = "accuracy",
   epochs = 30, hidden = 16, classes = 4, seed = 0,
}
lucerna.manual_seed(config.seed ~= 0 and config.seed or run.seed)   -- seed 0: the run's (--seed, --seeds)

local set = data.blobs{samples = 400, features = 8, centers = config.classes, std = 6.0}
local views = {set.inputs:narrow(2, 1, 4), set.inputs:narrow(2, 5, 4)}

local encoders = {nn.Sequential{nn.Linear(4, config.hidden), nn.ReLU()}, nn.Sequential{nn.Linear(4, config.hidden), nn.ReLU()}}
-- The one line that picks the fusion: any registered name, Swift or Lua plugin.
local fusion = fusions{type = config.fusion, input_dims = {config.hidden, config.hidden}, dim = config.hidden}
local head = nn.Linear(config.hidden, config.classes)
local penalty = regularizers{type = config.regularizer}
local metric = metrics{type = config.metric}

local params = {}
for _, module in ipairs{encoders[1], encoders[2], fusion, head} do
   for _, p in ipairs(module:parameters()) do params[#params + 1] = p end
end
local opt = optim.adamw{params = params, lr = 1e-2}
local named = {}
for _, module in ipairs{encoders[1], encoders[2], head} do
   for _, p in ipairs(module:parameters()) do named[#named + 1] = p end
end

local function forward()
   return head(fusion{encoders[1](views[1]), encoders[2](views[2])})
end

for epoch = 1, config.epochs do
   opt:zero_grad()
   local logits = forward()
   local loss = losses.cross_entropy(logits, set.labels) + penalty:penalty{parameters = named}
   loss:backward()
   opt:step()
   if epoch % 10 == 0 then
      metric:reset()
      metric:update(logits:detach(), set.labels)
      run.log{epoch = epoch, loss = loss:item(), [config.metric] = metric:compute()}
      print(("epoch %2d  loss %.4f  %s %.3f  (fusion %s, regularizer %s)"):format(
         epoch, loss:item(), config.metric, metric:compute(), config.fusion, config.regularizer))
   end
end
run.save("fusion", fusion)
