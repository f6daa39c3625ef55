--[[ 15_colored_mnist.lua: IRM's Colored MNIST with the reference code's model and protocol.
The binary label (digit < 5, 25 % noise) agrees with the digit's colour 80 % and 90 % of the time in the two
training environments and 10 % at test, so a model that reads the colour scores ~85 % in training and ~10 %
at test. Methods: erm (cross-entropy), irm (IRMv1: the squared gradient of each environment's risk by a dummy
scale, weight 1 for 190 steps then 91257 with the loss rescaled), demographic_parity (predictions made
independent of the colour, FairTorch's penalty), oracle (ERM on grayscale images, no colour to use), and the
training methods: group_dro (online weights on the four (colour, label) groups), reweighing (sample weights
that make colour and label independent), jtt (ERM for `jtt_steps` steps, then retraining with its errors
upsampled `jtt_upweight` times) and adversarial_debiasing (an adversary predicts the colour from the
prediction and the label; AIF360's projected update, alpha = `adversary_alpha`).
Protocol of facebookresearch/InvariantRiskMinimization: MLP 392-390-390 (ReLU; two logits here, which is the
same model as one logit with binary cross-entropy), Xavier-uniform weights and zero biases, Adam lr 4.9e-4
on full batches of both environments for 501 steps, L2 0.0011 on every parameter, no validation split (the
training environments cannot tell a colour model from a digit model).
Published: ERM 17.1 % test, IRM 66.9 ± 2.5 %, grayscale oracle 73.0 %.
Run:  .build/release/lucerna run examples/15_colored_mnist.lua --set method=irm     (3 seeds) ]]

local config = lucerna.config{seeds = {1, 2, 3}, method = "irm", steps = 501, lr = 0.0004898536566546834,
                              l2 = 0.00110794568, penalty = 91257.18613115903, anneal = 190, dp_weight = 10,
                              dro_step = 0.01, jtt_steps = 100, jtt_upweight = 6, adversary_alpha = 0.1,
                              limit = 0}
lucerna.manual_seed(run.seed)
local limit = config.limit > 0 and config.limit or nil
local grayscale = config.method == "oracle"
local train_set = data.colored_mnist{split = "train", seed = run.seed, grayscale = grayscale, limit = limit}
local test_set = data.colored_mnist{split = "test", seed = run.seed, grayscale = grayscale, limit = limit}

local l2 = {type = "l2", weight = config.l2, include_bias = true}
local regularizers = {
   erm = {l2}, oracle = {l2},
   irm = {l2, {type = "irm", weight = config.penalty, anneal_steps = config.anneal}},
   demographic_parity = {l2, {type = "demographic_parity", weight = config.dp_weight}},
}
local methods = {
   group_dro = {type = "group_dro", step_size = config.dro_step},
   reweighing = "reweighing",
   jtt = {type = "jtt", epochs = config.jtt_steps, upweight = config.jtt_upweight},
   adversarial_debiasing = {type = "adversarial_debiasing", alpha = config.adversary_alpha},
}
assert(regularizers[config.method] or methods[config.method],
       "method must be erm, irm, demographic_parity, oracle, group_dro, reweighing, jtt or adversarial_debiasing")

local inputs = grayscale and 196 or 392
local model = models.mlp{in_features = inputs, hidden = {390, 390}, classes = 2}
for _, parameter in pairs(model:named_parameters()) do
   if #parameter:shape() == 2 then nn.init.xavier_uniform_(parameter) else nn.init.zeros_(parameter) end
end
local result = train{
   model = model, data = train_set, validation = 0, test = test_set,
   forward = function(batch) return model(batch.images:flatten(2)) end,
   optimizer = {type = "adam", lr = config.lr}, schedule = false,
   epochs = config.steps, batch = train_set.labels:numel(),   -- one full-batch step per epoch
   regularizers = regularizers[config.method] or {l2}, method = methods[config.method], verbose = false,
   metrics = {accuracy = "accuracy", worst_group_accuracy = "worst_group_accuracy"},
}
local train_values = evaluate{model = model, data = train_set, name = "train_environments",
                              forward = function(batch) return model(batch.images:flatten(2)) end,
                              metrics = {accuracy = "accuracy"}}
print(("%s: train accuracy %.4f, test accuracy %.4f, test worst-group (colour) accuracy %.4f"):format(
   config.method, train_values.accuracy, result.test.accuracy, result.test.worst_group_accuracy))
