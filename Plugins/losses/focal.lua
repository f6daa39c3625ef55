--[[ focal.lua: multi-class focal loss, which down-weights well-classified examples.
ARGS   opts.gamma  focusing parameter (0 gives cross-entropy)
       opts.alpha  overall weight
RETURN forward(self, logits [N, C], targets [N] 0-based) = mean over samples of
       -alpha * (1 - p_t)^gamma * log p_t, with p_t the softmax probability of the target class.
Reference: Lin, Goyal, Girshick, He & Dollár, "Focal Loss for Dense Object Detection", ICCV 2017. ]]
return {
   kind = "loss",
   name = "focal",
   description = "focal loss: cross-entropy scaled by (1 - p_t)^gamma",
   reference = "Lin et al., Focal Loss for Dense Object Detection, 2017",
   defaults = {gamma = 2.0, alpha = 1.0},
   options = {gamma = "focusing parameter; 0 gives cross-entropy", alpha = "overall weight"},

   forward = function(self, logits, targets)
      local n = logits:shape()[1]
      local log_p = logits:log_softmax(2):gather(2, (targets:float() + 1):reshape{n, 1}):reshape{n}
      local focus = (1 - log_p:exp()):pow(self.options.gamma)
      return (focus * log_p):mean() * -self.options.alpha
   end,

   example = function(self)
      return {tensor.randn{4, 3}, tensor{0, 2, 1, 2}:long()}
   end,
}
