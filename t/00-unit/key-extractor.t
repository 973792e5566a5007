# KeyExtractor without a server: every key-spec form finds exactly the key
# arguments, malformed commands find none, sub-commands can be named either
# way, apply_prefix joins bytes, and the command table agrees with the
# server's legacy first/last/step key positions wherever those apply.
use Test2::V0;
use JSON::PP                        ();
use Future::IO::Redis::KeyExtractor qw(extract_key_indices apply_prefix);
use Future::IO::Redis::CommandTable;

my %TABLE = %Future::IO::Redis::CommandTable::COMMANDS;

# [ command words ..., expected key indices into the arguments ]
my @CASES = (
    [ [qw(GET k)],                             [0] ],
    [ [qw(get k)],                             [0], 'command names in any case' ],
    [ [qw(SET k v EX 10)],                     [0] ],
    [ [qw(MSET a 1 b 2 c 3)],                  [ 0, 2, 4 ], 'range with a step' ],
    [ [qw(MGET a b c)],                        [ 0, 1, 2 ], 'range to the end' ],
    [ [qw(BLPOP a b 0)],                       [ 0, 1 ],    'range that stops before the timeout' ],
    [ [qw(EVAL s 2 k1 k2 a1 a2)],              [ 2, 3 ],    'numkeys' ],
    [ [qw(EVAL s 0 a1)],                       [],          'numkeys 0' ],
    [ [qw(EVAL s -1 a1)],                      [],          'negative numkeys: no keys' ],
    [ [qw(EVAL s x a1)],                       [],          'numkeys that is no number: no keys' ],
    [ [qw(EVAL s 5 a1)],                       [],          'numkeys past the end: no keys' ],
    [ [qw(FCALL f 1 k a)],                     [2] ],
    [ [qw(ZUNIONSTORE d 2 s1 s2 WEIGHTS 1 2)], [ 0, 2, 3 ], 'index, then numkeys' ],
    [ [qw(LMPOP 2 l1 l2 LEFT)],                [ 1, 2 ] ],
    [ [qw(BLMPOP 0 2 l1 l2 LEFT)],             [ 2, 3 ], 'timeout, then numkeys' ],
    [ [qw(BZMPOP 1 2 z1 z2 MIN)],              [ 2, 3 ] ],
    [ [qw(SINTERCARD 2 a b LIMIT 1)],          [ 1, 2 ] ],
    [ [qw(XREAD COUNT 2 STREAMS s1 s2 0 0)],          [ 3, 4 ], 'STREAMS keyword, half the rest' ],
    [ [qw(XREAD STREAMS STREAMS 0)],                  [1],      'a stream named STREAMS' ],
    [ [qw(XREADGROUP GROUP streams c STREAMS s >)],   [4],      'a group named streams' ],
    [ [qw(GEORADIUS g 1 2 3 km STORE d)],             [ 0, 6 ], 'STORE keyword' ],
    [ [qw(GEORADIUS g 1 2 3 km STORE d STOREDIST e)], [ 0, 6, 8 ] ],
    [ [qw(GEORADIUSBYMEMBER g STORE 3 km)],           [0], 'a member named STORE is no keyword' ],
    [
        [ 'SORT', qw(l BY w_* GET), '#', qw(GET o_* STORE d) ],
        [ 0, 8 ],
        'SORT: patterns are not keys, STORE is'
    ],
    [
        [qw(SORT l STORE a STORE b)], [ 0, 2, 4 ],
        'SORT: every STORE destination (the last counts)'
    ],
    [ [qw(SORT l LIMIT 0 1)], [0] ],
    [ [qw(SORT_RO l BY x)],   [0] ],
    [ [ 'MIGRATE', 'h', 1, 'k', 0, 5000 ], [2], 'MIGRATE: the key' ],
    [
        [ 'MIGRATE', 'h', 1, '', 0, 5000, 'AUTH', 'KEYS', 'KEYS', 'a', 'b' ],
        [ 8, 9 ],
        'MIGRATE KEYS: a password named KEYS is skipped'
    ],
    [ [ 'MIGRATE', 'h', 1, '', 0, 5000, 'AUTH2', 'u', 'keys', 'KEYS', 'a' ], [9] ],
    [ [ 'MIGRATE', 'h', 1, 'k', 0, 5000, 'KEYS', 'a' ], [],  'MIGRATE KEYS with a key: invalid' ],
    [ [qw(OBJECT ENCODING k)],                          [1], 'sub-command in the arguments' ],
    [ [ 'OBJECT ENCODING', 'k' ],                       [0], 'sub-command in the name' ],
    [ [ 'object|encoding', 'k' ], [0], 'sub-command as the server writes it' ],
    [ [qw(XGROUP CREATE s g $)],  [1] ],
    [ [qw(XINFO STREAM s FULL)],  [1] ],
    [ [qw(MEMORY USAGE k)],       [1] ],
    [ [qw(OBJECT)],               [], 'container without its sub-command' ],
    [ [qw(OBJECT NOSUCH k)],      [], 'unknown sub-command' ],
    [ [qw(NOSUCH a b)],           [], 'unknown command' ],
    [ [qw(PUBLISH ch m)],         [], 'a channel is no key' ],
    [ [qw(SPUBLISH ch m)],        [], 'a shard channel is no key (NOT_KEY)' ],
    [ [qw(SSUBSCRIBE a b)],       [] ],
    [ [qw(KEYS *)],               [], 'a pattern is no key' ],
    [ [qw(HSET h f v)],           [0] ],
    [ [qw(BITOP AND d a b)],      [ 1, 2, 3 ] ],
    [ [qw(RENAME a b)],           [ 0, 1 ] ],
    [ [qw(PING)],                 [] ],
);

for my $case (@CASES) {
    my ( $words, $want, $label ) = @$case;
    my ( $cmd, @args ) = @$words;
    is( [ extract_key_indices( $cmd, @args ) ], $want, $label // "@$words" );
}

# Regressions: words the server reads as keywords or counts were missed,
# so the keys after them escaped the prefix.
subtest 'words as the server reads them' => sub {
    my $one   = bless { text => '1' },     'FIORTest::Word';
    my $store = bless { text => 'STORE' }, 'FIORTest::Word';
    is( [ extract_key_indices( 'EVAL', 's', $one, 'k', 'a' ) ],
        [2], 'numkeys as an object that stringifies' );
    is( [ extract_key_indices( 'SORT', 'l', $store, 'd' ) ], [ 0, 2 ], 'STORE as an object' );
    is(
        [ extract_key_indices( 'SORT', 'l', "STORE\0x", 'd' ) ],
        [ 0, 2 ],
        'STORE followed by a NUL (the server compares with strcasecmp)'
    );
    is( [ extract_key_indices( 'XREAD', "STREAMS\0", 's', 0 ) ], [1], 'STREAMS followed by a NUL' );
    is(
        [ extract_key_indices( qw(GEORADIUS g 1 2 3 km), "STORE\0", 'd' ) ],
        [ 0, 6 ],
        'GEORADIUS STORE with a NUL'
    );
    is(
        [ extract_key_indices( qw(GEORADIUS g 1 2 3 km STOREDIST), "\x{17f}tore", qw(COUNT 1) ) ],
        [ 0, 6 ],
        'only ASCII letters fold: a long s does not make STORE'
    );
    is(
        [ extract_key_indices(qw(GEORADIUS g 1 2 3 km STORE a STORE b)) ],
        [ 0, 6, 8 ],
        'GEORADIUS: every STORE (the command uses the last, the spec finds the first)'
    );
    is(
        [ extract_key_indices(qw(GEORADIUS g 1 2 3 km COUNT STORE STOREDIST d)) ],
        [ 0, 8 ],
        'GEORADIUS: a COUNT argument is no keyword'
    );
    is(
        [ extract_key_indices(qw(SORT src STORE by STORE dst)) ],
        [ 0, 2, 4 ],
        'SORT: a STORE destination named by'
    );
    is( [ extract_key_indices( 'MIGRATE', 'h', 1, '', 0, 5000, "KEYS\0", 'a' ) ],
        [6], 'MIGRATE KEYS with a NUL' );
    is( [ extract_key_indices( "\x{212a}EYS", '*' ) ],
        [], 'a command name with a Kelvin sign is no KEYS' );
    is( [ extract_key_indices( "GET\0x", 'k' ) ],
        [0], 'GET with a NUL may run as GET: its key is a key' );
    is( [ extract_key_indices( 'XGROUP', "CREATE\0x", 's', 'g', '$' ) ],
        [1], 'so may a sub-command' );
    is(
        [ extract_key_indices( 'object', bless( { text => 'encoding' }, 'FIORTest::Word' ), 'k' ) ],
        [1],
        'a sub-command as an object'
    );
    is(
        [ apply_prefix( 'p:', 'SET', $store, 'v' ) ],
        [ 'p:STORE', 'v' ],
        'an object key is prefixed as its text'
    );
};

subtest 'odd input' => sub {
    is( [ extract_key_indices(undef) ], [], 'no command' );
    is( [ extract_key_indices('') ],    [], 'empty command' );
    is( [ extract_key_indices( 'GET', undef ) ], [0],
        'an undefined key is still where the key is' );
    is( [ extract_key_indices( 'XREAD',  'STREAMS' ) ], [], 'keyword with nothing after it' );
    is( [ extract_key_indices( 'OBJECT', [] ) ],        [], 'a reference as the sub-command' );
};

subtest 'apply_prefix' => sub {
    is( [ apply_prefix( 'p:', 'MSET', 'a', 'a', 'b', 'b' ) ], [qw(p:a a p:b b)], 'keys only' );
    is( [ apply_prefix( 'p:', 'HSET', 'h', 'f', 'v' ) ], [qw(p:h f v)], 'fields and values stay' );
    is( [ apply_prefix( undef, 'GET', 'k' ) ],           ['k'],         'no prefix' );
    is( [ apply_prefix( '', 'GET', 'k' ) ],              ['k'],         'empty prefix' );
    is( [ apply_prefix( 'p:', 'NOSUCH', 'k' ) ],         ['k'],         'unknown command' );
    is( [ apply_prefix( 'p:', 'GET', undef ) ], [undef], 'undef left for the client to reject' );
    my $ref = [];
    is( [ apply_prefix( 'p:', 'GET', $ref ) ]->[0], exact_ref($ref), 'a reference left alone' );

    my $object = bless {}, 'FIORTest::Name';
    is( [ apply_prefix( 'p:', 'GET', $object ) ], ['p:obj'], 'an object that stringifies' );

    my $text_prefix = "\x{263a}:";
    my ($key) = apply_prefix( $text_prefix, 'GET', "\xff\x00" );
    ok( !utf8::is_utf8($key), 'bytes out' );
    is( $key, "\xe2\x98\xba:\xff\x00", 'text prefix as UTF-8, binary key unchanged' );
    ($key) = apply_prefix( 'p:', 'GET', "caf\x{e9}\x{263a}" );
    is( $key, "p:caf\xc3\xa9\xe2\x98\xba", 'text key as UTF-8' );
    my $upgraded = "\xe9";
    utf8::upgrade($upgraded);
    ($key) = apply_prefix( 'p:', 'GET', $upgraded );
    is( $key, "p:\xc3\xa9", 'a string with the UTF-8 flag goes as UTF-8, as the client sends it' );
    is( [ apply_prefix( 'p:', 'OBJECT', 'ENCODING', 'k' ) ],
        [qw(ENCODING p:k)], 'sub-command word stays' );
};

# Every command without movable keys: its key specs give the same positions
# as the legacy first/last/step triple of COMMAND INFO (the server keeps
# both), for an argument list of the command's arity.
subtest 'key specs agree with COMMAND INFO first/last/step' => sub {
    open my $fh, '<:raw', 'share/commands.json' or die "share/commands.json: $!";
    my $data = JSON::PP->new->decode( do { local $/; <$fh> } );
    my @all;
    for my $cmd ( values %{ $data->{commands} } ) {
        push @all, $cmd, values %{ $cmd->{subcommands} || {} };
    }
    my $checked = 0;
    for my $cmd ( sort { $a->{name} cmp $b->{name} } @all ) {
        next if grep { $_ eq 'movablekeys' } @{ $cmd->{flags} };
        next if grep {
            grep { $_ eq 'not_key' }
                @{ $_->{flags} }
        } @{ $cmd->{key_specs} };
        my @words = split /\|/, $cmd->{name};
        my $argc  = abs( $cmd->{arity} ) + ( $cmd->{arity} < 0 ? 2 : 0 );
        my @argv  = ( @words, map { "a$_" } scalar(@words) .. $argc - 1 );
        my @legacy;
        if ( $cmd->{first_key} ) {
            my $last = $cmd->{last_key} < 0 ? $argc + $cmd->{last_key} : $cmd->{last_key};
            for ( my $i = $cmd->{first_key}; $i <= $last; $i += $cmd->{step} ) { push @legacy, $i }
        }
        my ( $name, @args ) = @argv;
        is( [ map { $_ + 1 } extract_key_indices( $name, @args ) ], \@legacy, $cmd->{name} );
        $checked++;
    }
    ok( $checked > 300, "$checked commands checked" );
};

subtest 'positions worked out once per name agree with the general search' => sub {
    my $compared = 0;
    for my $name ( sort grep { !/\|/ } keys %TABLE ) {
        for my $count ( 0 .. 7 ) {
            my @args    = map { "a$_" } 1 .. $count;
            my @planned = extract_key_indices( $name, @args );
            local $Future::IO::Redis::KeyExtractor::USE_PLANS = 0;
            my @searched = extract_key_indices( $name, @args );
            next if "@planned" eq "@searched" && ++$compared;
            fail("$name with $count arguments: @planned vs @searched");
        }
    }
    ok( $compared > 1000, "$compared argument lists agree" );
};

subtest 'every spec the generic rules cannot follow is handled' => sub {
    for my $name ( sort keys %TABLE ) {
        my @odd = grep { $_->{begin}[0] eq 'unknown' || $_->{flags} =~ /INCOMPLETE/ }
            @{ $TABLE{$name}{key_specs} || [] };
        next unless @odd;

        # SORT_RO's unknown spec is its BY/GET patterns, which are no keys.
        ok( ( grep { $name eq $_ } qw(sort migrate sort_ro) ), "$name has its own rule" );
    }
};

done_testing;

package FIORTest::Name;
use overload '""' => sub { 'obj' }, fallback => 1;

package FIORTest::Word;
use overload '""' => sub { $_[0]{text} }, fallback => 1;
