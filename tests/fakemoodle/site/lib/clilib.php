<?php
// fakemoodle: the parts of Moodle's lib/clilib.php the CLI scripts use.

function cli_get_params(array $longoptions, ?array $shortmapping = null) {
    $shortmapping = (array)$shortmapping;
    $options = array();
    $unrecognized = array();
    if (empty($_SERVER['argv'])) {
        return array($options, $unrecognized);
    }
    $raw = $_SERVER['argv'];
    // Like Moodle: nothing after '--' is an option.
    if (($cut = array_search('--', $raw, true)) !== false) {
        $raw = array_slice($raw, 0, $cut);
    }
    array_shift($raw);
    foreach ($raw as $arg) {
        if (substr($arg, 0, 2) === '--') {
            $parts = explode('=', substr($arg, 2), 2);
            $key = reset($parts);
            $value = (count($parts) > 1) ? $parts[1] : true;
            if ($key === '') {
                continue;
            }
            if (array_key_exists($key, $longoptions)) {
                $options[$key] = $value;
            } else {
                $unrecognized[] = $arg;
            }
        } else if (substr($arg, 0, 1) === '-') {
            $parts = explode('=', substr($arg, 1), 2);
            $key = reset($parts);
            $value = (count($parts) > 1) ? $parts[1] : true;
            if (array_key_exists($key, $shortmapping)) {
                $options[$shortmapping[$key]] = $value;
            } else {
                $unrecognized[] = $arg;
            }
        } else {
            $unrecognized[] = $arg;
        }
    }
    foreach ($longoptions as $key => $default) {
        if (!array_key_exists($key, $options)) {
            $options[$key] = $default;
        }
    }
    return array($options, $unrecognized);
}

function cli_heading($string, $return = false) {
    $string = "== $string ==\n";
    if ($return) {
        return $string;
    }
    echo $string;
}

function cli_writeln($text, $stream = STDOUT) {
    fwrite($stream, $text . PHP_EOL);
}

function cli_error($text, $errorcode = 1) {
    fwrite(STDERR, $text);
    fwrite(STDERR, "\n");
    die($errorcode);
}

function cli_problem($text) {
    fwrite(STDERR, $text . "\n");
}

function cli_input($prompt, $default = '', ?array $options = null, $casesensitiveoptions = false) {
    echo $prompt;
    echo "\n: ";
    $input = trim((string)fgets(STDIN));   // end of input reads as an empty answer
    if ($input === '') {
        $input = $default;
    }
    return $input;
}

function mtrace($string, $eol = "\n") {
    echo $string . $eol;
}
