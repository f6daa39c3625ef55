--[[ 13_tour.lua: the README's recipe. Train the benchmark CNN on Fashion-MNIST with the paper's protocol,
then measure it under attack and explain it. Run: .build/release/lucerna run examples/13_tour.lua --seed 1 ]]
local config = lucerna.config{seeds = {1, 2, 3}, epochs = 15, limit = 0, audit = 1000}  -- --set epochs=2 overrides
lucerna.manual_seed(run.seed)

local images = data.fashion_mnist{split = "train", limit = config.limit > 0 and config.limit or nil}
local test = data.fashion_mnist{split = "test"}
local model = models.cnn{}                                    -- any registered model, by name

local result = train{
   model = model, data = images, validation = 0.2, test = test,   -- stratified 80/20 split
   optimizer = {type = "adamw", lr = 1e-3, weight_decay = 1e-2}, schedule = "cosine",
   epochs = config.epochs, early_stopping = {metric = "val_f1", patience = 4, mode = "max"},
}
local robust = evaluate{model = model, data = data.fashion_mnist{split = "test", limit = config.audit}, name = "audit",
   attacks = {fgsm = {type = "fgsm", eps = 0.1}, pgd20 = {type = "pgd", eps = 0.1, alpha = 0.01, steps = 20}}}
local first = test.images:narrow(1, 1, 8)
run.overlay("grad_cam_pp", first, {{"grad_cam_pp", explainers.grad_cam_pp{layer = "relu2"}:explain(model, first)}})
print(("test accuracy %.4f, PGD-20 %.4f"):format(result.test.accuracy, robust.robust_accuracy.pgd20))
