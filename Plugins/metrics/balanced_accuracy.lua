--[[ balanced_accuracy.lua: the mean over classes of per-class recall, robust to class imbalance.
ARGS   none
RETURN update(self, predictions, targets): predictions are scores [N, C] (argmax) or labels [N] (0-based);
       targets are 0-based labels [N]. compute(self): mean recall over the classes seen in targets.
Reference: Brodersen et al., "The Balanced Accuracy and Its Posterior Distribution", ICPR 2010;
scikit-learn balanced_accuracy_score. ]]
return {
   kind = "metric",
   name = "balanced_accuracy",
   description = "mean per-class recall over the classes present in the targets",
   reference = "Brodersen et al., 2010; scikit-learn balanced_accuracy_score",
   defaults = {},

   init = function(self) self:reset() end,

   reset = function(self)
      self.hits, self.counts = {}, {}
   end,

   update = function(self, predictions, targets)
      local predicted
      if #predictions:shape() == 2 then
         predicted = (predictions:argmax(2) - 1):totable()   -- argmax is 1-based
      else
         predicted = predictions:totable()
      end
      local truth = targets:totable()
      assert(#predicted == #truth, "balanced_accuracy: predictions and targets differ in length")
      for i, label in ipairs(truth) do
         self.counts[label] = (self.counts[label] or 0) + 1
         if predicted[i] == label then self.hits[label] = (self.hits[label] or 0) + 1 end
      end
   end,

   compute = function(self)
      local labels = {}
      for label in pairs(self.counts) do labels[#labels + 1] = label end
      assert(#labels > 0, "balanced_accuracy: no samples seen")
      table.sort(labels)
      local sum = 0
      for _, label in ipairs(labels) do sum = sum + (self.hits[label] or 0) / self.counts[label] end
      return sum / #labels
   end,
}
