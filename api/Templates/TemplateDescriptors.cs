using System.Collections;
using System.Globalization;
using HandlebarsDotNet;
using HandlebarsDotNet.Compiler;
using HandlebarsDotNet.IO;
using HandlebarsDotNet.Iterators;
using HandlebarsDotNet.MemberAccessors;
using HandlebarsDotNet.ObjectDescriptors;
using HandlebarsDotNet.PathStructure;

namespace WebhooksApi.Templates;

/// <summary>
/// Tells Handlebars.Net how to read and loop over the model's types. Registered per environment
/// (user providers are asked before the built-in ones). Every loop goes through
/// <see cref="BudgetedIterator"/>, which is where the iteration limit is enforced.
/// </summary>
internal sealed class TemplateDescriptorProvider : IObjectDescriptorProvider
{
    private static readonly ObjectDescriptor ObjectDescriptor = new(
        typeof(TemplateObject),
        new ObjectAccessor(),
        (_, instance) => ((TemplateObject)instance).Keys,
        _ => new BudgetedIterator(new DictionaryIterator<TemplateObject, string, object?>()));

    private static readonly ObjectDescriptor ArrayDescriptor = new(
        typeof(TemplateArray),
        new ArrayAccessor(),
        (_, _) => Array.Empty<object>(),
        _ => new BudgetedIterator(new ListIterator<TemplateArray, object?>()));

    // Strings are not loops: by default Handlebars.Net walks a string's properties, and a string
    // as long as the input, nested a few times, would be a loop the budget could not see. As in
    // Handlebars.js, {{#each "text"}} renders its {{else}}.
    private static readonly ObjectDescriptor StringDescriptor = new(
        typeof(string),
        new StringAccessor(),
        (_, _) => Array.Empty<object>(),
        _ => new EmptyIterator());

    public bool TryGetDescriptor(Type type, out ObjectDescriptor value)
    {
        if (type == typeof(TemplateObject))
        {
            value = ObjectDescriptor;
            return true;
        }

        if (type == typeof(TemplateArray))
        {
            value = ArrayDescriptor;
            return true;
        }

        if (type == typeof(string))
        {
            value = StringDescriptor;
            return true;
        }

        value = HandlebarsDotNet.ObjectDescriptors.ObjectDescriptor.Empty;
        return false;
    }

    private sealed class ObjectAccessor : IMemberAccessor
    {
        public bool TryGetValue(object instance, ChainSegment memberName, out object? value) =>
            ((TemplateObject)instance).TryGetValue(memberName.TrimmedValue, out value);
    }

    /// <summary><c>items.0</c>, <c>items.[0]</c> and <c>items.length</c>, as in Handlebars.js.</summary>
    private sealed class ArrayAccessor : IMemberAccessor
    {
        public bool TryGetValue(object instance, ChainSegment memberName, out object? value)
        {
            var array = (TemplateArray)instance;
            var name = memberName.TrimmedValue;
            if (int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < array.Count)
            {
                value = array[index];
                return true;
            }

            if (string.Equals(name, "length", StringComparison.OrdinalIgnoreCase))
            {
                value = (long)array.Count;
                return true;
            }

            value = null;
            return false;
        }
    }

    private sealed class StringAccessor : IMemberAccessor
    {
        public bool TryGetValue(object instance, ChainSegment memberName, out object? value)
        {
            if (string.Equals(memberName.TrimmedValue, "length", StringComparison.OrdinalIgnoreCase))
            {
                value = (long)((string)instance).Length;
                return true;
            }

            value = null;
            return false;
        }
    }

    private sealed class EmptyIterator : IIterator
    {
        public void Iterate(in EncodedTextWriter writer, BindingContext context, ChainSegment[] blockParamsVariables, object input, TemplateDelegate template, TemplateDelegate ifEmpty) =>
            ifEmpty(writer, context);
    }
}

/// <summary>
/// Wraps Handlebars.Net's own iterator (which keeps @index, @key, @first, @last and block params
/// right) and charges the render budget before each iteration's body runs.
/// </summary>
internal sealed class BudgetedIterator(IIterator inner) : IIterator
{
    public void Iterate(in EncodedTextWriter writer, BindingContext context, ChainSegment[] blockParamsVariables, object input, TemplateDelegate template, TemplateDelegate ifEmpty)
    {
        var budget = RenderBudget.Current;
        if (budget is null)
        {
            inner.Iterate(writer, context, blockParamsVariables, input, template, ifEmpty);
            return;
        }

        // One closure per loop, not per iteration.
        TemplateDelegate counted = (w, c) =>
        {
            budget.Iteration();
            template(w, c);
        };
        inner.Iterate(writer, context, blockParamsVariables, input, counted, ifEmpty);
    }
}

/// <summary>
/// How model values print: booleans as <c>true</c>/<c>false</c> (Handlebars.Net would print
/// <c>True</c>, which breaks JSON), objects and arrays as compact JSON (escaped like any other
/// value), doubles through the encoder, and <see cref="SafeText"/> as it is.
/// </summary>
internal sealed class TemplateFormatterProvider : IFormatterProvider
{
    private static readonly IFormatter Bool = new BoolFormatter();
    private static readonly IFormatter Json = new JsonFormatter();
    private static readonly IFormatter Safe = new SafeTextFormatter();
    private static readonly IFormatter Floating = new FloatingFormatter();

    public bool TryCreateFormatter(Type type, out IFormatter formatter)
    {
        formatter = type == typeof(bool) ? Bool
            : type == typeof(TemplateObject) || type == typeof(TemplateArray) ? Json
            : type == typeof(SafeText) ? Safe
            : type == typeof(double) || type == typeof(float) ? Floating
            : null!;
        return formatter is not null;
    }

    private sealed class BoolFormatter : IFormatter
    {
        public void Format<T>(T value, in EncodedTextWriter writer) => writer.Write(value is true ? "true" : "false");
    }

    private sealed class JsonFormatter : IFormatter
    {
        public void Format<T>(T value, in EncodedTextWriter writer)
        {
            var json = TemplateText.ToJson(value);
            RenderBudget.Current?.HelperOutput(json.Length);
            writer.Write(json);
        }
    }

    /// <summary>
    /// Handlebars.Net writes numbers past the encoder. Integers and decimals are only digits, '-'
    /// and '.', but a double can print as "1E+300", and '+' means a space in a query string.
    /// </summary>
    private sealed class FloatingFormatter : IFormatter
    {
        public void Format<T>(T value, in EncodedTextWriter writer) => writer.Write(TemplateText.ToText(value));
    }

    private sealed class SafeTextFormatter : IFormatter
    {
        public void Format<T>(T value, in EncodedTextWriter writer) => writer.Write(((SafeText)(object)value!).Text, false);
    }
}
